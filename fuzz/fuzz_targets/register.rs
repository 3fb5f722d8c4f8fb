//! Request parsing and validation: arbitrary bytes as a registration body, read into a
//! `RegistrationRequest`, through the free `validate` (the dry run) and `Registrar::register`;
//! an accepted body is then read, sent back as an update (with its `client_id`) and deleted, so
//! the whole RFC 7591 / RFC 7592 pipeline sees it.

#![no_main]

use libfuzzer_sys::fuzz_target;
use oauth_dcr::{validate, ClientMetadata, RegistrationError, RegistrationRequest, RequestContext};
use oauth_dcr_fuzz::{block_on, check_error, plain_registrar};

fuzz_target!(|data: &[u8]| {
    let registrar = plain_registrar();
    let limits = &registrar.policy().limits;
    let request = match RegistrationRequest::from_json(data, limits) {
        Ok(request) => request,
        Err(e) => {
            check_error(&e);
            return;
        }
    };
    let validated = validate(registrar.policy(), &request)
        .map(|v| v.into_inner())
        .map_err(RegistrationError::InvalidMetadata);
    if let Err(e) = &validated {
        check_error(e);
    }
    block_on(async {
        let client = match registrar.register(request, &RequestContext::new()).await {
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
        // The dry run and the registration agree on the stored metadata.
        let stored: &ClientMetadata = &client.metadata;
        assert_eq!(validated.as_ref().ok(), Some(stored));
        let token = client
            .registration_access_token
            .as_ref()
            .expect("a token is issued")
            .secret()
            .to_owned();
        let read = registrar.read(&client.client_id, Some(&token)).await;
        let read = read.unwrap_or_else(|e| panic!("read after register: {e:?}"));
        assert_eq!(read.metadata, client.metadata);

        // The update sends back what the read returned, as RFC 7592 §2.2 has a client do.
        let mut update = RegistrationRequest::from(read.metadata.clone());
        update.client_id = Some(client.client_id.clone());
        let token = read
            .registration_access_token
            .as_ref()
            .expect("a token is issued")
            .secret()
            .to_owned();
        let token = match registrar
            .update(
                &client.client_id,
                Some(&token),
                update,
                &RequestContext::new(),
            )
            .await
        {
            Ok(updated) => updated
                .registration_access_token
                .as_ref()
                .expect("a token is issued")
                .secret()
                .to_owned(),
            Err(e) => panic!("sending back what a read returned: {e:?}"),
        };
        if let Err(e) = registrar.delete(&client.client_id, Some(&token)).await {
            panic!("delete with the current token: {e:?}");
        }
    });
});
