//! Registers, reads, updates and deletes a client in-process, printing each step; then shows the
//! dry run (`validate`) and a refused registration as the HTTP response a handler would send.
//!
//! ```text
//! cargo run --example in_process
//! ```

use std::sync::Arc;

use oauth_dcr::{
    validate, MemoryStore, Registrar, RegistrationError, RegistrationRequest, RequestContext,
    ServerPolicy,
};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), RegistrationError> {
    let registrar = Registrar::new(
        ServerPolicy::new("https://as.example/register"),
        Arc::new(MemoryStore::new()),
    );
    let limits = &registrar.policy().limits;
    let context = RequestContext::new();

    let body = br#"{"redirect_uris":["https://app.example/callback"],"client_name":"Example App"}"#;
    let client = registrar
        .register(RegistrationRequest::from_json(body, limits)?, &context)
        .await?;
    println!("registered:\n{}\n", pretty(&client.to_json()));

    let token = token_of(&client);
    let read = registrar.read(&client.client_id, Some(&token)).await?;
    println!("read, the token rotated:\n{}\n", pretty(&read.to_json()));

    let stale = registrar.read(&client.client_id, Some(&token)).await;
    println!("reading again with the old token: {}\n", stale.unwrap_err());

    // An update sends back what the read returned, with the change (RFC 7592 §2.2).
    let mut update = RegistrationRequest::from(read.metadata.clone());
    update.client_id = Some(client.client_id.clone());
    update.metadata.client_name = Some("Renamed App".into());
    let updated = registrar
        .update(&client.client_id, Some(&token_of(&read)), update, &context)
        .await?;
    println!("updated:\n{}\n", pretty(&updated.to_json()));

    let token = token_of(&updated);
    registrar.delete(&client.client_id, Some(&token)).await?;
    println!(
        "deleted; reading it now: {}",
        registrar
            .read(&client.client_id, Some(&token))
            .await
            .unwrap_err()
    );

    let bad =
        RegistrationRequest::from_json(br#"{"redirect_uris":["javascript:alert(1)"]}"#, limits)?;
    match validate(registrar.policy(), &bad) {
        Ok(_) => println!("\nthe dry run accepts it"),
        Err(violations) => println!("\nthe dry run refuses it: {violations}"),
    }
    let refused = registrar.register(bad, &context).await.unwrap_err();
    let response = refused.into_http();
    println!(
        "a refused registration answers {}: {}",
        response.status(),
        String::from_utf8_lossy(response.body())
    );
    Ok(())
}

fn token_of(response: &oauth_dcr::RegistrationResponse) -> String {
    response
        .registration_access_token
        .as_ref()
        .map(|t| t.secret().to_owned())
        .unwrap_or_default()
}

fn pretty(json: &[u8]) -> String {
    serde_json::from_slice::<serde_json::Value>(json)
        .and_then(|v| serde_json::to_string_pretty(&v))
        .unwrap_or_default()
}
