//! Metadata policies (OpenID Federation 1.0 §6.1): how the authorities of a trust chain constrain
//! the metadata of the entity at its end.
//!
//! A `metadata_policy` claim maps an entity type (`openid_relying_party`) to metadata parameter
//! policies, each a set of operators. The policies of a chain are resolved from the trust anchor
//! down to the subject's immediate superior ([`MetadataPolicy::resolve`]): each one is validated
//! (known operators with values of the right JSON types, only allowed combinations, no unknown
//! operator the chain declared critical), then merged into what the superiors decided, where a
//! subordinate may only narrow. The result is applied to the subject's metadata
//! ([`MetadataPolicy::apply`]), operator by operator in the order the specification gives:
//! `value`, `add`, `default`, `one_of`, `subset_of`, `superset_of`, `essential`.
//!
//! Any failure is a [`PolicyError`], and the trust chain is then invalid.
//!
//! ```
//! use oauth_dcr::federation::policy::MetadataPolicy;
//! use serde_json::json;
//!
//! let anchor = json!({"openid_relying_party": {
//!     "token_endpoint_auth_method": {"one_of": ["private_key_jwt", "self_signed_tls_client_auth"]},
//!     "contacts": {"add": ["helpdesk@federation.example"]}
//! }});
//! let intermediate = json!({"openid_relying_party": {
//!     "token_endpoint_auth_method": {"one_of": ["private_key_jwt"], "essential": true}
//! }});
//! let policy = MetadataPolicy::resolve([&anchor, &intermediate], &[])?;
//!
//! let metadata = json!({"token_endpoint_auth_method": "private_key_jwt", "contacts": ["ops@rp.example"]});
//! let resolved = policy.apply("openid_relying_party", metadata.as_object().unwrap())?;
//! assert_eq!(resolved["contacts"], json!(["ops@rp.example", "helpdesk@federation.example"]));
//!
//! let refused = json!({"token_endpoint_auth_method": "client_secret_basic"});
//! assert!(policy.apply("openid_relying_party", refused.as_object().unwrap()).is_err());
//! # Ok::<(), oauth_dcr::federation::policy::PolicyError>(())
//! ```

use std::collections::BTreeMap;
use std::fmt;

use serde_json::{Map, Value};

/// A metadata policy could not be validated, merged or applied (OpenID Federation 1.0 §6.1:
/// a "policy error"): the trust chain that carries it is invalid. The message names the entity
/// type, the parameter and the operator concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyError(String);

impl PolicyError {
    fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }

    /// What went wrong.
    pub fn message(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for PolicyError {}

/// The operators of one metadata parameter's policy. `value` holds `Some(Value::Null)` for a
/// policy that removes the parameter.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ParameterPolicy {
    /// `value`: the parameter is set to this (removed when it is `null`).
    pub value: Option<Value>,
    /// `add`: these values are added to the parameter's array.
    pub add: Option<Vec<Value>>,
    /// `default`: the parameter is set to this when it is absent.
    pub default: Option<Value>,
    /// `one_of`: the parameter, when present, is one of these.
    pub one_of: Option<Vec<Value>>,
    /// `subset_of`: the parameter's array, when present, keeps only these values.
    pub subset_of: Option<Vec<Value>>,
    /// `superset_of`: the parameter's array, when present, holds all of these.
    pub superset_of: Option<Vec<Value>>,
    /// `essential`: the parameter must be present.
    pub essential: Option<bool>,
}

/// A resolved metadata policy: for each entity type, the policy of each metadata parameter.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MetadataPolicy {
    types: BTreeMap<String, BTreeMap<String, ParameterPolicy>>,
}

impl MetadataPolicy {
    /// Resolves the `metadata_policy` claims of a trust chain's subordinate statements, given from
    /// the trust anchor's down to the one by the subject's immediate superior (statements without
    /// the claim are simply left out), with the operator names their `metadata_policy_crit`
    /// claims declare critical, gathered from the whole chain.
    ///
    /// # Errors
    /// A claim that is not a three-level object of operators, an operator value of a type the
    /// operator does not take, a combination of operators the specification does not allow
    /// (within one claim or once merged), two values that cannot be merged (`value` or `default`
    /// differing, `one_of` with no value in common), or an operator this crate does not know
    /// that the chain declared critical.
    pub fn resolve<'a>(
        claims: impl IntoIterator<Item = &'a Value>,
        critical: &[String],
    ) -> Result<Self, PolicyError> {
        let mut resolved = Self::default();
        for claim in claims {
            let next = Self::parse(claim, critical)?;
            resolved.merge(next)?;
        }
        Ok(resolved)
    }

    /// Reads and validates one `metadata_policy` claim (OpenID Federation 1.0 §6.1.2 and
    /// §6.1.4.1). Operators this crate does not know are ignored unless `critical` names them.
    ///
    /// # Errors
    /// As [`resolve`](Self::resolve), for one claim.
    pub fn parse(claim: &Value, critical: &[String]) -> Result<Self, PolicyError> {
        let types = claim
            .as_object()
            .ok_or_else(|| PolicyError::new("metadata_policy is not a JSON object"))?;
        let mut out = Self::default();
        for (entity_type, parameters) in types {
            let parameters = parameters.as_object().ok_or_else(|| {
                PolicyError::new(format!(
                    "metadata_policy.{entity_type} is not a JSON object"
                ))
            })?;
            let mut policies = BTreeMap::new();
            for (parameter, operators) in parameters {
                let at = format!("{entity_type}.{parameter}");
                let policy = ParameterPolicy::parse(&at, operators, critical)?;
                policy.check_combinations(&at)?;
                policies.insert(parameter.clone(), policy);
            }
            out.types.insert(entity_type.clone(), policies);
        }
        Ok(out)
    }

    /// Merges a subordinate's policy into this one (OpenID Federation 1.0 §6.1.4.1): entity types
    /// and parameters it alone has are copied; operators both have are merged as each operator
    /// defines; the merged parameter policy must still be an allowed combination.
    ///
    /// # Errors
    /// Values that cannot be merged, or a combination the merge made that is not allowed.
    pub fn merge(&mut self, subordinate: Self) -> Result<(), PolicyError> {
        for (entity_type, parameters) in subordinate.types {
            let current = self.types.entry(entity_type.clone()).or_default();
            for (parameter, policy) in parameters {
                let at = format!("{entity_type}.{parameter}");
                match current.get_mut(&parameter) {
                    Some(existing) => {
                        existing.merge(&at, policy)?;
                        existing.check_combinations(&at)?;
                    }
                    None => {
                        current.insert(parameter, policy);
                    }
                }
            }
        }
        Ok(())
    }

    /// The policy of one parameter of an entity type, if the chain set one.
    pub fn parameter(&self, entity_type: &str, parameter: &str) -> Option<&ParameterPolicy> {
        self.types.get(entity_type)?.get(parameter)
    }

    /// Applies the policy for `entity_type` to that entity type's metadata (OpenID Federation 1.0
    /// §6.1.4.2) and returns the resolved metadata. Parameters without a policy are kept as they
    /// are. `scope` is treated as the array of its space-separated values and joined again.
    ///
    /// # Errors
    /// A parameter the policy checks fails the check (`one_of`, `superset_of`, `essential`), or
    /// has a JSON type its operators cannot act on (`add` on a string, for example).
    pub fn apply(
        &self,
        entity_type: &str,
        metadata: &Map<String, Value>,
    ) -> Result<Map<String, Value>, PolicyError> {
        let mut out = metadata.clone();
        let Some(parameters) = self.types.get(entity_type) else {
            return Ok(out);
        };
        for (parameter, policy) in parameters {
            let at = format!("{entity_type}.{parameter}");
            let scope = parameter == "scope";
            let current = out.remove(parameter).map(|value| match value {
                Value::String(s) if scope => Value::Array(
                    s.split(' ')
                        .filter(|t| !t.is_empty())
                        .map(|t| Value::String(t.to_owned()))
                        .collect(),
                ),
                other => other,
            });
            if let Some(value) = policy.apply(&at, current)? {
                let value = match value {
                    Value::Array(values) if scope => {
                        let tokens: Vec<&str> = values.iter().filter_map(Value::as_str).collect();
                        if tokens.len() != values.len() {
                            return Err(PolicyError::new(format!(
                                "{at}: the scope values are not all strings"
                            )));
                        }
                        Value::String(tokens.join(" "))
                    }
                    other => other,
                };
                out.insert(parameter.clone(), value);
            }
        }
        Ok(out)
    }
}

impl ParameterPolicy {
    /// Reads the operators of one parameter, checking the JSON type of each value.
    fn parse(at: &str, operators: &Value, critical: &[String]) -> Result<Self, PolicyError> {
        let operators = operators
            .as_object()
            .ok_or_else(|| PolicyError::new(format!("{at} is not a JSON object of operators")))?;
        let mut policy = Self::default();
        for (name, value) in operators {
            let array = || {
                value.as_array().cloned().ok_or_else(|| {
                    PolicyError::new(format!("{at}: the value of `{name}` is not an array"))
                })
            };
            match name.as_str() {
                "value" => policy.value = Some(value.clone()),
                "add" => policy.add = Some(array()?),
                "default" => {
                    if value.is_null() {
                        return Err(PolicyError::new(format!(
                            "{at}: the value of `default` is null"
                        )));
                    }
                    policy.default = Some(value.clone());
                }
                "one_of" => {
                    let values = array()?;
                    if values.is_empty() {
                        return Err(PolicyError::new(format!("{at}: `one_of` is empty")));
                    }
                    policy.one_of = Some(values);
                }
                "subset_of" => policy.subset_of = Some(array()?),
                "superset_of" => policy.superset_of = Some(array()?),
                "essential" => {
                    let essential = value.as_bool().ok_or_else(|| {
                        PolicyError::new(format!("{at}: the value of `essential` is not a boolean"))
                    })?;
                    policy.essential = Some(essential);
                }
                other if critical.iter().any(|c| c == other) => {
                    return Err(PolicyError::new(format!(
                        "{at}: the critical operator `{other}` is not supported"
                    )));
                }
                // OpenID Federation 1.0 §6.1.3.2: an operator not understood and not critical is
                // ignored.
                _ => {}
            }
        }
        Ok(policy)
    }

    /// The combinations each operator allows (OpenID Federation 1.0 §6.1.3.1), on one policy or a
    /// merged one.
    fn check_combinations(&self, at: &str) -> Result<(), PolicyError> {
        let refuse = |why: &str| Err(PolicyError::new(format!("{at}: {why}")));
        if let Some(value) = &self.value {
            let values = value.as_array();
            if let Some(add) = &self.add {
                if !values.is_some_and(|v| is_subset(add, v)) {
                    return refuse("the values of `add` are not a subset of `value`");
                }
            }
            if self.default.is_some() && value.is_null() {
                return refuse("`default` with a null `value`");
            }
            if let Some(one_of) = &self.one_of {
                if !one_of.contains(value) {
                    return refuse("`value` is not among the `one_of` values");
                }
            }
            if let Some(subset_of) = &self.subset_of {
                if !values.is_some_and(|v| is_subset(v, subset_of)) {
                    return refuse("the values of `value` are not a subset of `subset_of`");
                }
            }
            if let Some(superset_of) = &self.superset_of {
                if !values.is_some_and(|v| is_subset(superset_of, v)) {
                    return refuse("the values of `value` are not a superset of `superset_of`");
                }
            }
            if value.is_null() && self.essential == Some(true) {
                return refuse("a null `value` with `essential` true");
            }
        }
        if self.one_of.is_some() {
            for (other, present) in [
                ("add", self.add.is_some()),
                ("subset_of", self.subset_of.is_some()),
                ("superset_of", self.superset_of.is_some()),
            ] {
                if present {
                    return Err(PolicyError::new(format!(
                        "{at}: `one_of` cannot be combined with `{other}`"
                    )));
                }
            }
        }
        if let (Some(add), Some(subset_of)) = (&self.add, &self.subset_of) {
            if !is_subset(add, subset_of) {
                return refuse("the values of `add` are not a subset of `subset_of`");
            }
        }
        if let (Some(subset_of), Some(superset_of)) = (&self.subset_of, &self.superset_of) {
            if !is_subset(superset_of, subset_of) {
                return refuse("`subset_of` is not a superset of `superset_of`");
            }
        }
        Ok(())
    }

    /// Merges a subordinate's operators into these (OpenID Federation 1.0 §6.1.3.1, "operator
    /// value merge").
    fn merge(&mut self, at: &str, sub: Self) -> Result<(), PolicyError> {
        let conflict =
            |name: &str| PolicyError::new(format!("{at}: the values of `{name}` differ"));
        match (&self.value, sub.value) {
            (Some(mine), Some(theirs)) if *mine != theirs => return Err(conflict("value")),
            (None, theirs @ Some(_)) => self.value = theirs,
            _ => {}
        }
        self.add = union(self.add.take(), sub.add);
        match (&self.default, sub.default) {
            (Some(mine), Some(theirs)) if *mine != theirs => return Err(conflict("default")),
            (None, theirs @ Some(_)) => self.default = theirs,
            _ => {}
        }
        self.one_of = match (self.one_of.take(), sub.one_of) {
            (Some(mine), Some(theirs)) => {
                let common = intersection(&mine, &theirs);
                if common.is_empty() {
                    return Err(PolicyError::new(format!(
                        "{at}: the `one_of` values have nothing in common"
                    )));
                }
                Some(common)
            }
            (mine, theirs) => mine.or(theirs),
        };
        self.subset_of = match (self.subset_of.take(), sub.subset_of) {
            (Some(mine), Some(theirs)) => Some(intersection(&mine, &theirs)),
            (mine, theirs) => mine.or(theirs),
        };
        self.superset_of = union(self.superset_of.take(), sub.superset_of);
        self.essential = match (self.essential, sub.essential) {
            (Some(mine), Some(theirs)) => Some(mine || theirs),
            (mine, theirs) => mine.or(theirs),
        };
        Ok(())
    }

    /// Applies the operators to a parameter's value (`None`: absent) in their order, and returns
    /// the resolved value (`None`: absent).
    fn apply(&self, at: &str, mut current: Option<Value>) -> Result<Option<Value>, PolicyError> {
        let array_of = |value: &Option<Value>, name: &str| -> Result<(), PolicyError> {
            match value {
                Some(v) if !v.is_array() => Err(PolicyError::new(format!(
                    "{at}: `{name}` acts on an array, and the parameter is not one"
                ))),
                _ => Ok(()),
            }
        };
        // value
        if let Some(value) = &self.value {
            current = (!value.is_null()).then(|| value.clone());
        }
        // add
        if let Some(add) = &self.add {
            array_of(&current, "add")?;
            let mut values = match current.take() {
                Some(Value::Array(values)) => values,
                _ => Vec::new(),
            };
            for value in add {
                if !values.contains(value) {
                    values.push(value.clone());
                }
            }
            current = Some(Value::Array(values));
        }
        // default
        if current.is_none() {
            current = self.default.clone();
        }
        // one_of
        if let (Some(one_of), Some(value)) = (&self.one_of, &current) {
            if value.is_array() || value.is_null() {
                return Err(PolicyError::new(format!(
                    "{at}: `one_of` acts on a single value, and the parameter is not one"
                )));
            }
            if !one_of.contains(value) {
                return Err(PolicyError::new(format!(
                    "{at}: the value is not one of those the policy allows"
                )));
            }
        }
        // subset_of: the parameter keeps, in its own order, the values the operator lists.
        if let Some(subset_of) = &self.subset_of {
            array_of(&current, "subset_of")?;
            if let Some(Value::Array(values)) = current.take() {
                let kept = values
                    .into_iter()
                    .filter(|v| subset_of.contains(v))
                    .collect();
                current = Some(Value::Array(kept));
            }
        }
        // superset_of
        if let Some(superset_of) = &self.superset_of {
            array_of(&current, "superset_of")?;
            if let Some(Value::Array(values)) = &current {
                if !is_subset(superset_of, values) {
                    return Err(PolicyError::new(format!(
                        "{at}: the values do not include all those the policy requires"
                    )));
                }
            }
        }
        // essential
        if self.essential == Some(true) && current.is_none() {
            return Err(PolicyError::new(format!(
                "{at}: the parameter is essential and absent"
            )));
        }
        Ok(current)
    }
}

/// Whether every value of `part` is in `whole`.
fn is_subset(part: &[Value], whole: &[Value]) -> bool {
    part.iter().all(|v| whole.contains(v))
}

/// The values of `a` that are also in `b`, in `a`'s order, each once.
fn intersection(a: &[Value], b: &[Value]) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::new();
    for v in a {
        if b.contains(v) && !out.contains(v) {
            out.push(v.clone());
        }
    }
    out
}

/// The values of both, `a`'s first, each once.
fn union(a: Option<Vec<Value>>, b: Option<Vec<Value>>) -> Option<Vec<Value>> {
    match (a, b) {
        (Some(mut a), Some(b)) => {
            for v in b {
                if !a.contains(&v) {
                    a.push(v);
                }
            }
            Some(a)
        }
        (a, b) => a.or(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::strategy::Strategy as _;
    use serde_json::json;

    const RP: &str = "openid_relying_party";

    fn one(operators: Value) -> Result<MetadataPolicy, PolicyError> {
        MetadataPolicy::parse(&json!({ RP: { "p": operators } }), &[])
    }

    fn apply(operators: Value, input: Value) -> Result<Option<Value>, PolicyError> {
        let policy = one(operators)?;
        let metadata = match input {
            Value::Null => Map::new(),
            value => Map::from_iter([("p".to_owned(), value)]),
        };
        Ok(policy.apply(RP, &metadata)?.remove("p"))
    }

    /// The trust anchor and intermediate of OpenID Federation 1.0's metadata policy example, the
    /// merged policy it gives and the resolved metadata of its leaf.
    #[test]
    fn the_specification_example_resolves_as_published() {
        let anchor = json!({ RP: {
            "grant_types": {
                "default": ["authorization_code"],
                "subset_of": ["authorization_code", "refresh_token"],
                "superset_of": ["authorization_code"]
            },
            "token_endpoint_auth_method": {
                "one_of": ["private_key_jwt", "self_signed_tls_client_auth"],
                "essential": true
            },
            "token_endpoint_auth_signing_alg": {"one_of": ["PS256", "ES256"]},
            "subject_type": {"value": "pairwise"},
            "contacts": {"add": ["helpdesk@federation.example.org"]}
        }});
        let intermediate = json!({ RP: {
            "grant_types": {"subset_of": ["authorization_code"]},
            "token_endpoint_auth_method": {"one_of": ["self_signed_tls_client_auth"]},
            "contacts": {"add": ["helpdesk@org.example.org"]}
        }});
        let merged = MetadataPolicy::resolve([&anchor, &intermediate], &[]).unwrap();
        let expected = MetadataPolicy::parse(
            &json!({ RP: {
                "grant_types": {
                    "default": ["authorization_code"],
                    "superset_of": ["authorization_code"],
                    "subset_of": ["authorization_code"]
                },
                "token_endpoint_auth_method": {
                    "one_of": ["self_signed_tls_client_auth"],
                    "essential": true
                },
                "token_endpoint_auth_signing_alg": {"one_of": ["PS256", "ES256"]},
                "subject_type": {"value": "pairwise"},
                "contacts": {"add": ["helpdesk@federation.example.org", "helpdesk@org.example.org"]}
            }}),
            &[],
        )
        .unwrap();
        assert_eq!(merged, expected);

        // The leaf's metadata, with the intermediate's `metadata` values already applied.
        let leaf = json!({
            "redirect_uris": ["https://rp.example.org/callback"],
            "response_types": ["code"],
            "token_endpoint_auth_method": "self_signed_tls_client_auth",
            "contacts": ["rp_admins@rp.example.org"],
            "sector_identifier_uri": "https://org.example.org/sector-ids.json",
            "policy_uri": "https://org.example.org/policy.html"
        });
        let resolved = merged.apply(RP, leaf.as_object().unwrap()).unwrap();
        assert_eq!(
            Value::Object(resolved),
            json!({
                "redirect_uris": ["https://rp.example.org/callback"],
                "grant_types": ["authorization_code"],
                "response_types": ["code"],
                "token_endpoint_auth_method": "self_signed_tls_client_auth",
                "subject_type": "pairwise",
                "sector_identifier_uri": "https://org.example.org/sector-ids.json",
                "policy_uri": "https://org.example.org/policy.html",
                "contacts": [
                    "rp_admins@rp.example.org",
                    "helpdesk@federation.example.org",
                    "helpdesk@org.example.org"
                ]
            })
        );
    }

    /// OpenID Federation 1.0's table of `essential` with `subset_of`.
    #[test]
    fn essential_and_subset_of_give_the_published_outputs() {
        let abc = json!(["a", "b", "c"]);
        for essential in [true, false] {
            let policy = json!({"essential": essential, "subset_of": abc});
            assert_eq!(
                apply(policy.clone(), json!(["a", "e"])),
                Ok(Some(json!(["a"])))
            );
            assert_eq!(
                apply(policy.clone(), json!(["d", "e"])),
                Ok(Some(json!([])))
            );
            let absent = apply(policy, Value::Null);
            if essential {
                assert!(absent.is_err());
            } else {
                assert_eq!(absent, Ok(None));
            }
        }
    }

    #[test]
    fn each_operator_acts_as_defined() {
        // value: set, or remove with null.
        assert_eq!(
            apply(json!({"value": "x"}), json!("y")),
            Ok(Some(json!("x")))
        );
        assert_eq!(apply(json!({"value": null}), json!("y")), Ok(None));
        // add: appended once each; initialises an absent parameter; not on a string.
        assert_eq!(
            apply(json!({"add": ["b", "c"]}), json!(["a", "b"])),
            Ok(Some(json!(["a", "b", "c"])))
        );
        assert_eq!(
            apply(json!({"add": ["b"]}), Value::Null),
            Ok(Some(json!(["b"])))
        );
        assert!(apply(json!({"add": ["b"]}), json!("a")).is_err());
        // default: only when absent.
        assert_eq!(
            apply(json!({"default": 5}), Value::Null),
            Ok(Some(json!(5)))
        );
        assert_eq!(apply(json!({"default": 5}), json!(7)), Ok(Some(json!(7))));
        // one_of: a check on a single value.
        assert_eq!(
            apply(json!({"one_of": ["a", "b"]}), json!("b")),
            Ok(Some(json!("b")))
        );
        assert!(apply(json!({"one_of": ["a", "b"]}), json!("c")).is_err());
        assert!(apply(json!({"one_of": ["a"]}), json!(["a"])).is_err());
        assert_eq!(apply(json!({"one_of": ["a"]}), Value::Null), Ok(None));
        // subset_of keeps the parameter's values it lists, in the parameter's order: a `value`
        // the policy allowed (a subset of `subset_of`) comes through unchanged, repeats and all.
        assert_eq!(
            apply(
                json!({"value": ["c", "c"], "subset_of": ["c"]}),
                Value::Null
            ),
            Ok(Some(json!(["c", "c"])))
        );
        assert_eq!(
            apply(json!({"subset_of": ["a", "b"]}), json!(["b", "x", "a"])),
            Ok(Some(json!(["b", "a"])))
        );
        // superset_of: a check on an array.
        assert!(apply(json!({"superset_of": ["a", "b"]}), json!(["a"])).is_err());
        assert_eq!(
            apply(json!({"superset_of": ["a"]}), json!(["b", "a"])),
            Ok(Some(json!(["b", "a"])))
        );
        assert!(apply(json!({"superset_of": ["a"]}), json!("a")).is_err());
        // essential false: voluntary.
        assert_eq!(apply(json!({"essential": false}), Value::Null), Ok(None));
    }

    #[test]
    fn scope_is_read_as_its_values_and_joined_again() {
        let policy = MetadataPolicy::parse(
            &json!({ RP: { "scope": {"subset_of": ["openid", "email"], "superset_of": ["openid"]} } }),
            &[],
        )
        .unwrap();
        let metadata = json!({"scope": "openid profile email"});
        let out = policy.apply(RP, metadata.as_object().unwrap()).unwrap();
        assert_eq!(out["scope"], json!("openid email"));
        let missing = json!({"scope": "email"});
        assert!(policy.apply(RP, missing.as_object().unwrap()).is_err());
    }

    #[test]
    fn combinations_the_specification_forbids_are_policy_errors() {
        for forbidden in [
            json!({"value": ["a", "b"], "add": ["c"]}),
            json!({"value": null, "default": "a"}),
            json!({"value": "c", "one_of": ["a", "b"]}),
            json!({"value": ["a", "c"], "subset_of": ["a", "b"]}),
            json!({"value": ["a"], "superset_of": ["a", "b"]}),
            json!({"value": null, "essential": true}),
            json!({"one_of": ["a"], "add": ["a"]}),
            json!({"one_of": ["a"], "subset_of": ["a"]}),
            json!({"one_of": ["a"], "superset_of": ["a"]}),
            json!({"add": ["c"], "subset_of": ["a", "b"]}),
            json!({"subset_of": ["a"], "superset_of": ["a", "b"]}),
        ] {
            assert!(one(forbidden.clone()).is_err(), "{forbidden}");
        }
        for allowed in [
            json!({"value": ["a", "b"], "add": ["a"]}),
            json!({"value": "a", "default": "b"}),
            json!({"value": "a", "one_of": ["a", "b"]}),
            json!({"value": ["a"], "subset_of": ["a", "b"]}),
            json!({"value": ["a", "b"], "superset_of": ["a"]}),
            json!({"value": null, "essential": false}),
            json!({"value": "a", "essential": true}),
            json!({"add": ["a"], "default": ["b"], "superset_of": ["z"], "essential": true}),
            json!({"add": ["a"], "subset_of": ["a", "b"]}),
            json!({"one_of": ["a"], "default": "a", "essential": true}),
            json!({"subset_of": ["a", "b"], "superset_of": ["a"], "default": ["a"]}),
        ] {
            assert!(one(allowed.clone()).is_ok(), "{allowed}");
        }
    }

    #[test]
    fn operator_values_of_the_wrong_type_are_policy_errors() {
        for wrong in [
            json!({"add": "a"}),
            json!({"one_of": "a"}),
            json!({"one_of": []}),
            json!({"subset_of": "a"}),
            json!({"superset_of": {"a": 1}}),
            json!({"essential": "yes"}),
            json!({"default": null}),
        ] {
            assert!(one(wrong.clone()).is_err(), "{wrong}");
        }
        for malformed in [
            json!([]),
            json!({ RP: [] }),
            json!({ RP: { "p": "value" } }),
        ] {
            assert!(
                MetadataPolicy::parse(&malformed, &[]).is_err(),
                "{malformed}"
            );
        }
    }

    #[test]
    fn merging_narrows_and_conflicts_are_policy_errors() {
        let merged = |a: Value, b: Value| {
            MetadataPolicy::resolve(
                [&json!({ RP: { "p": a } }), &json!({ RP: { "p": b } })],
                &[],
            )
            .map(|p| p.parameter(RP, "p").cloned().unwrap_or_default())
        };
        assert!(merged(json!({"value": "a"}), json!({"value": "b"})).is_err());
        assert!(merged(json!({"value": "a"}), json!({"value": "a"})).is_ok());
        assert!(merged(json!({"default": 1}), json!({"default": 2})).is_err());
        assert!(merged(json!({"one_of": ["a"]}), json!({"one_of": ["b"]})).is_err());
        assert_eq!(
            merged(json!({"one_of": ["a", "b"]}), json!({"one_of": ["b", "c"]}))
                .unwrap()
                .one_of,
            Some(vec![json!("b")])
        );
        // Two subset_of may leave nothing: the parameter is then made empty, not an error.
        assert_eq!(
            merged(json!({"subset_of": ["a"]}), json!({"subset_of": ["b"]}))
                .unwrap()
                .subset_of,
            Some(vec![])
        );
        assert_eq!(
            merged(json!({"superset_of": ["a"]}), json!({"superset_of": ["b"]}))
                .unwrap()
                .superset_of,
            Some(vec![json!("a"), json!("b")])
        );
        assert_eq!(
            merged(json!({"essential": true}), json!({"essential": false}))
                .unwrap()
                .essential,
            Some(true)
        );
        // Each claim is allowed alone, but not once merged.
        assert!(merged(json!({"value": ["a"]}), json!({"add": ["b"]})).is_err());
        assert!(merged(json!({"subset_of": ["a"]}), json!({"superset_of": ["b"]})).is_err());
        assert!(merged(json!({"one_of": ["a"]}), json!({"subset_of": ["a"]})).is_err());
        // A subordinate cannot widen: its one_of only narrows the anchor's.
        let anchor = json!({"one_of": ["private_key_jwt"]});
        let wider = json!({"one_of": ["private_key_jwt", "none"]});
        assert_eq!(
            merged(anchor, wider).unwrap().one_of,
            Some(vec![json!("private_key_jwt")])
        );
    }

    #[test]
    fn unknown_operators_are_ignored_unless_critical() {
        let claim = json!({ RP: { "p": {"regexp": "^a", "essential": true} } });
        let policy = MetadataPolicy::parse(&claim, &[]).unwrap();
        assert_eq!(policy.parameter(RP, "p").unwrap().essential, Some(true));
        assert!(MetadataPolicy::parse(&claim, &["regexp".to_owned()]).is_err());
        // A critical name that is a standard operator is simply understood.
        assert!(MetadataPolicy::parse(&claim, &["essential".to_owned()]).is_ok());
    }

    #[test]
    fn other_entity_types_and_parameters_are_left_alone() {
        let policy = one(json!({"value": "x"})).unwrap();
        let metadata = json!({"q": 1});
        let out = policy
            .apply("federation_entity", metadata.as_object().unwrap())
            .unwrap();
        assert_eq!(Value::Object(out), json!({"q": 1}));
        let out = policy.apply(RP, metadata.as_object().unwrap()).unwrap();
        assert_eq!(Value::Object(out), json!({"q": 1, "p": "x"}));
    }

    /// One parameter's operators, from a small alphabet so that combinations meet.
    fn operators() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let word = || prop::sample::select(vec!["a", "b", "c"]).prop_map(Value::from);
        let words = move || prop::collection::vec(word(), 0..3).prop_map(Value::Array);
        let single = move || prop_oneof![word(), words(), Just(Value::Null)];
        (
            prop::option::of(single()),
            prop::option::of(words()),
            prop::option::of(prop_oneof![word(), words()]),
            prop::option::of(prop::collection::vec(word(), 1..3).prop_map(Value::Array)),
            prop::option::of(words()),
            prop::option::of(words()),
            prop::option::of(any::<bool>()),
        )
            .prop_map(
                |(value, add, default, one_of, subset_of, superset_of, essential)| {
                    let mut ops = Map::new();
                    for (name, op) in [
                        ("value", value),
                        ("add", add),
                        ("default", default),
                        ("one_of", one_of),
                        ("subset_of", subset_of),
                        ("superset_of", superset_of),
                        ("essential", essential.map(Value::Bool)),
                    ] {
                        if let Some(op) = op {
                            ops.insert(name.to_owned(), op);
                        }
                    }
                    Value::Object(ops)
                },
            )
    }

    proptest::proptest! {
        /// Whatever two authorities set and whatever the subject sends: no panic, and metadata
        /// that comes out meets every operator of the resolved policy.
        #[test]
        fn resolved_metadata_meets_the_resolved_policy(
            anchor in operators(),
            intermediate in operators(),
            input in proptest::option::of(proptest::prop_oneof![
                proptest::sample::select(vec!["a", "b", "d"]).prop_map(Value::from),
                proptest::collection::vec(
                    proptest::sample::select(vec!["a", "b", "d"]).prop_map(Value::from),
                    0..4,
                ).prop_map(Value::Array),
            ]),
        ) {
            let claims = [json!({ RP: { "p": anchor } }), json!({ RP: { "p": intermediate } })];
            let Ok(policy) = MetadataPolicy::resolve(&claims, &[]) else {
                return Ok(());
            };
            let resolved = policy.parameter(RP, "p").cloned().unwrap_or_default();
            let metadata = Map::from_iter(input.map(|v| ("p".to_owned(), v)));
            let Ok(out) = policy.apply(RP, &metadata) else {
                return Ok(());
            };
            let p = out.get("p");
            proptest::prop_assert!(p.is_none_or(|v| !v.is_null()));
            let array = |v: &Value| v.as_array().cloned().unwrap_or_default();
            if let Some(value) = &resolved.value {
                proptest::prop_assert_eq!(p, (!value.is_null()).then_some(value));
            }
            if let (Some(add), Some(p)) = (&resolved.add, p) {
                proptest::prop_assert!(is_subset(add, &array(p)));
            }
            if let (Some(one_of), Some(p)) = (&resolved.one_of, p) {
                proptest::prop_assert!(one_of.contains(p));
            }
            if let (Some(subset_of), Some(p)) = (&resolved.subset_of, p) {
                proptest::prop_assert!(is_subset(&array(p), subset_of));
            }
            if let (Some(superset_of), Some(p)) = (&resolved.superset_of, p) {
                proptest::prop_assert!(is_subset(superset_of, &array(p)));
            }
            if resolved.essential == Some(true) {
                proptest::prop_assert!(p.is_some());
            }
        }
    }
}
