//! Registers, reads, updates and deletes a client in-process, printing each step.
//!
//! ```text
//! cargo run --example in_process
//! ```

use std::sync::Arc;

use oauth_dcr::{MemoryStore, Registrar, RegistrationError, RequestContext, ServerPolicy};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), RegistrationError> {
    let registrar = Registrar::new(
        ServerPolicy::new("https://as.example/register"),
        Arc::new(MemoryStore::new()),
    );
    let context = RequestContext::new();

    let body = br#"{"redirect_uris":["https://app.example/callback"],"client_name":"Example App"}"#;
    let client = registrar.register(body, &context).await?;
    println!(
        "registered ({}):\n{}\n",
        client.status,
        pretty(&client.to_json())
    );

    let token = client.registration_access_token.secret().to_owned();
    let read = registrar.read(&client.client_id, Some(&token)).await?;
    println!(
        "read ({}), the token rotated:\n{}\n",
        read.status,
        pretty(&read.to_json())
    );

    let stale = registrar.read(&client.client_id, Some(&token)).await;
    println!("reading again with the old token: {}\n", stale.unwrap_err());

    let token = read.registration_access_token.secret().to_owned();
    let update = format!(
        r#"{{"client_id":"{}","redirect_uris":["https://app.example/callback"],"client_name":"Renamed App"}}"#,
        client.client_id
    );
    let updated = registrar
        .update(&client.client_id, Some(&token), update.as_bytes(), &context)
        .await?;
    println!(
        "updated ({}):\n{}\n",
        updated.status,
        pretty(&updated.to_json())
    );

    let token = updated.registration_access_token.secret();
    registrar.delete(&client.client_id, Some(token)).await?;
    println!(
        "deleted; reading it now: {}",
        registrar
            .read(&client.client_id, Some(token))
            .await
            .unwrap_err()
    );

    let refused = registrar
        .register(br#"{"redirect_uris":["javascript:alert(1)"]}"#, &context)
        .await
        .unwrap_err();
    let response = refused.into_http();
    println!(
        "\na refused registration answers {}: {}",
        response.status(),
        String::from_utf8_lossy(response.body())
    );
    Ok(())
}

fn pretty(json: &[u8]) -> String {
    serde_json::from_slice::<serde_json::Value>(json)
        .and_then(|v| serde_json::to_string_pretty(&v))
        .unwrap_or_default()
}
