//! Request parsing and validation: arbitrary bytes as a registration body through
//! `Registrar::validate` and `Registrar::register`; an accepted body is then read, sent back as
//! an update (with its `client_id`) and deleted, so the whole RFC 7591 / RFC 7592 pipeline sees
//! it.

#![no_main]

use libfuzzer_sys::fuzz_target;
use oauth_dcr::{ClientMetadata, RequestContext};
use oauth_dcr_fuzz::{block_on, check_error, plain_registrar};

fuzz_target!(|data: &[u8]| {
    let registrar = plain_registrar();
    let validated = registrar.validate(data);
    if let Err(e) = &validated {
        check_error(e);
    }
    block_on(async {
        let client = match registrar.register(data, &RequestContext::new()).await {
            Ok(client) => client,
            Err(e) => {
                check_error(&e);
                assert!(
                    validated.is_err(),
                    "validate accepted what register refused: {e:?}"
                );
                return;
            }
        };
        assert_eq!(client.status, 201);
        // The dry run and the registration agree on the stored metadata (a deref coercion, so
        // this holds whether the response keeps its metadata boxed or not).
        let stored: &ClientMetadata = &client.metadata;
        assert_eq!(validated.as_ref().ok(), Some(stored));
        let token = client.registration_access_token.secret().to_owned();
        let read = registrar.read(&client.client_id, Some(&token)).await;
        let read = read.unwrap_or_else(|e| panic!("read after register: {e:?}"));
        assert_eq!(read.metadata, client.metadata);

        let mut body: serde_json::Value = serde_json::from_slice(data).expect("accepted JSON");
        body["client_id"] = client.client_id.clone().into();
        for owned in [
            "client_secret",
            "registration_access_token",
            "registration_client_uri",
        ] {
            body.as_object_mut().map(|o| o.remove(owned));
        }
        for owned in ["client_id_issued_at", "client_secret_expires_at"] {
            body.as_object_mut().map(|o| o.remove(owned));
        }
        let token = read.registration_access_token.secret().to_owned();
        let bytes = serde_json::to_vec(&body).expect("serializes");
        let token = match registrar
            .update(
                &client.client_id,
                Some(&token),
                &bytes,
                &RequestContext::new(),
            )
            .await
        {
            Ok(updated) => updated.registration_access_token.secret().to_owned(),
            Err(e) => {
                check_error(&e);
                token
            }
        };
        if let Err(e) = registrar.delete(&client.client_id, Some(&token)).await {
            panic!("delete with the current token: {e:?}");
        }
    });
});
