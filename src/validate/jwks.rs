//! Structural checks of a JWK Set given by value (`jwks`, RFC 7591 §2, RFC 7517 §5): public keys
//! only.

use serde_json::Value;

/// Members that only private or symmetric keys have (RFC 7518 §6.2.2, §6.3.2, §6.4.1; RFC 8037).
const PRIVATE_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// Checks that `set` is `{"keys": [...]}` of well-formed public keys.
pub(crate) fn check_public_set(set: &Value) -> Result<(), String> {
    let keys = set
        .as_object()
        .and_then(|o| o.get("keys"))
        .and_then(Value::as_array)
        .ok_or("must be an object with a `keys` array")?;
    for (i, key) in keys.iter().enumerate() {
        check_public_key(key).map_err(|why| format!("key {i} {why}"))?;
    }
    Ok(())
}

fn check_public_key(key: &Value) -> Result<(), String> {
    let key = key.as_object().ok_or("is not an object")?;
    let kty = key
        .get("kty")
        .and_then(Value::as_str)
        .ok_or("has no `kty` string")?;
    if let Some(member) = PRIVATE_MEMBERS.iter().find(|m| key.contains_key(**m)) {
        return Err(format!(
            "has the private member `{member}`: only public keys may be registered"
        ));
    }
    let required: &[&str] = match kty {
        "RSA" => &["n", "e"],
        "EC" => &["crv", "x", "y"],
        "OKP" => &["crv", "x"],
        "oct" => return Err("is a symmetric key: only public keys may be registered".to_owned()),
        other => return Err(format!("has the unsupported kty `{other}`")),
    };
    for member in required {
        if !key.get(*member).is_some_and(Value::is_string) {
            return Err(format!("({kty}) needs the string member `{member}`"));
        }
    }
    for member in ["kid", "use", "alg"] {
        if key.get(member).is_some_and(|v| !v.is_string()) {
            return Err(format!("has a `{member}` that is not a string"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn public_keys_pass_private_and_symmetric_fail() {
        let rsa = json!({"kty":"RSA","n":"0vx7","e":"AQAB","kid":"1"});
        assert_eq!(check_public_set(&json!({"keys":[rsa]})), Ok(()));
        let ec = json!({"kty":"EC","crv":"P-256","x":"f83O","y":"x_FE"});
        assert_eq!(check_public_set(&json!({"keys":[ec]})), Ok(()));
        for bad in [
            json!({"keys":[{"kty":"RSA","n":"0vx7","e":"AQAB","d":"X4cT"}]}),
            json!({"keys":[{"kty":"oct","k":"GawgguFyGrWKav7AX4VKUg"}]}),
            json!({"keys":[{"kty":"EC","crv":"P-256","x":"f83O"}]}),
            json!({"keys":"nope"}),
            json!([]),
        ] {
            assert!(check_public_set(&bad).is_err(), "{bad}");
        }
    }
}
