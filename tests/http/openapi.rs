//! A minimal checker of JSON values against the schemas of `examples/openapi.yaml`.
//!
//! It understands the subset of JSON Schema the description uses (`$ref`, `type`, `required`,
//! `properties`, `additionalProperties`, `items`, `enum`, `allOf`, and the annotations
//! `description`, `title`, `format`, `example`, `examples`) and refuses any other keyword, so the
//! description cannot promise a constraint that nothing checks.

use std::sync::OnceLock;

use serde_json::Value;

const ANNOTATIONS: [&str; 5] = ["description", "title", "format", "example", "examples"];

/// The parsed OpenAPI description.
pub(crate) struct Spec(Value);

/// The description, parsed once.
pub(crate) fn spec() -> &'static Spec {
    static SPEC: OnceLock<Spec> = OnceLock::new();
    SPEC.get_or_init(|| {
        let text = include_str!("../../examples/openapi.yaml");
        Spec(serde_yaml_ng::from_str(text).expect("examples/openapi.yaml is valid YAML"))
    })
}

impl Spec {
    /// The whole document.
    pub(crate) fn document(&self) -> &Value {
        &self.0
    }

    /// Checks a response of `operation` (`"get /register/{client_id}"`): its status is documented
    /// and its JSON body (`None` for an empty body) matches the documented schema. A method the
    /// path does not document must answer with an `ErrorResponse`.
    pub(crate) fn check_response(
        &self,
        operation: &str,
        status: u16,
        body: Option<&Value>,
    ) -> Result<(), String> {
        let Some(op) = self.operation(operation)? else {
            let error = serde_json::json!({"$ref": "#/components/schemas/ErrorResponse"});
            let body = body.ok_or(format!("{operation} {status}: expected an error body"))?;
            return self.validate_all(&error, body, &format!("{operation} {status}"));
        };
        let response = op["responses"]
            .get(status.to_string())
            .map(|r| self.resolve(r))
            .ok_or(format!("{operation}: status {status} is not documented"))?;
        let schema = response
            .get("content")
            .and_then(|c| c.get("application/json"))
            .map(|c| &c["schema"]);
        match (schema, body) {
            (Some(schema), Some(body)) => {
                self.validate_all(schema, body, &format!("{operation} {status}"))
            }
            (None, None) => Ok(()),
            (Some(_), None) => Err(format!("{operation} {status}: documented body missing")),
            (None, Some(_)) => Err(format!("{operation} {status}: undocumented body")),
        }
    }

    /// Checks a request body of `operation` against its documented `media_type` schema.
    pub(crate) fn check_request(
        &self,
        operation: &str,
        media_type: &str,
        body: &Value,
    ) -> Result<(), String> {
        let op = self
            .operation(operation)?
            .ok_or(format!("{operation} is not documented"))?;
        let schema = &op["requestBody"]["content"][media_type]["schema"];
        if schema.is_null() {
            return Err(format!(
                "{operation}: no {media_type} request body documented"
            ));
        }
        self.validate_all(schema, body, &format!("{operation} request"))
    }

    /// Checks `body` against the schema `components/schemas/{name}`.
    pub(crate) fn check_schema(&self, name: &str, body: &Value) -> Result<(), String> {
        let schema = serde_json::json!({ "$ref": format!("#/components/schemas/{name}") });
        self.validate_all(&schema, body, name)
    }

    /// Every schema in the document uses only the supported keywords, and every `$ref` resolves.
    pub(crate) fn lint(&self) -> Vec<String> {
        let mut errors = Vec::new();
        self.lint_refs(&self.0, "#", &mut errors);
        if let Some(schemas) = self.0["components"]["schemas"].as_object() {
            for (name, schema) in schemas {
                self.lint_schema(schema, &format!("#/components/schemas/{name}"), &mut errors);
            }
        }
        errors
    }

    fn operation(&self, operation: &str) -> Result<Option<&Value>, String> {
        let (method, path) = operation
            .split_once(' ')
            .ok_or(format!("operation `{operation}` is not `method /path`"))?;
        let item = self.0["paths"]
            .get(path)
            .ok_or(format!("path {path} is not documented"))?;
        Ok(item.get(method))
    }

    fn resolve<'a>(&'a self, mut value: &'a Value) -> &'a Value {
        while let Some(reference) = value.get("$ref").and_then(Value::as_str) {
            let pointer = reference.strip_prefix('#').unwrap_or(reference);
            match self.0.pointer(pointer) {
                Some(target) => value = target,
                None => break,
            }
        }
        value
    }

    fn validate_all(&self, schema: &Value, value: &Value, at: &str) -> Result<(), String> {
        let mut errors = Vec::new();
        self.validate(schema, value, at, &mut errors);
        if errors.is_empty() {
            Ok(())
        } else {
            Err(format!("{}\nin {value:#}", errors.join("\n")))
        }
    }

    fn validate(&self, schema: &Value, value: &Value, at: &str, errors: &mut Vec<String>) {
        let schema = self.resolve(schema);
        let Some(keywords) = schema.as_object() else {
            errors.push(format!("{at}: the schema is not an object"));
            return;
        };
        for (keyword, argument) in keywords {
            match keyword.as_str() {
                "type" if !type_matches(argument, value) => {
                    errors.push(format!("{at}: expected type {argument}"));
                }
                "required" => {
                    for name in argument.as_array().into_iter().flatten() {
                        let name = name.as_str().unwrap_or_default();
                        if value.is_object() && value.get(name).is_none() {
                            errors.push(format!("{at}: missing required member `{name}`"));
                        }
                    }
                }
                "properties" => {
                    for (name, sub) in argument.as_object().into_iter().flatten() {
                        if let Some(member) = value.as_object().and_then(|o| o.get(name)) {
                            self.validate(sub, member, &format!("{at}.{name}"), errors);
                        }
                    }
                }
                "additionalProperties" => {
                    let known = schema.get("properties").and_then(Value::as_object);
                    for (name, member) in value.as_object().into_iter().flatten() {
                        if known.is_some_and(|k| k.contains_key(name)) {
                            continue;
                        }
                        match argument {
                            Value::Bool(false) => {
                                errors.push(format!("{at}: unexpected member `{name}`"));
                            }
                            Value::Bool(true) => {}
                            sub => self.validate(sub, member, &format!("{at}.{name}"), errors),
                        }
                    }
                }
                "items" => {
                    for (i, item) in value.as_array().into_iter().flatten().enumerate() {
                        self.validate(argument, item, &format!("{at}[{i}]"), errors);
                    }
                }
                "enum" if !argument.as_array().is_some_and(|a| a.contains(value)) => {
                    errors.push(format!("{at}: {value} is not one of {argument}"));
                }
                "allOf" => {
                    for sub in argument.as_array().into_iter().flatten() {
                        self.validate(sub, value, at, errors);
                    }
                }
                "type" | "enum" => {}
                k if ANNOTATIONS.contains(&k) => {}
                other => errors.push(format!("{at}: unsupported schema keyword `{other}`")),
            }
        }
    }

    fn lint_refs(&self, value: &Value, at: &str, errors: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                if let Some(reference) = map.get("$ref").and_then(Value::as_str) {
                    let pointer = reference.strip_prefix('#').unwrap_or(reference);
                    if self.0.pointer(pointer).is_none() {
                        errors.push(format!("{at}: `{reference}` does not resolve"));
                    }
                }
                for (key, sub) in map {
                    self.lint_refs(sub, &format!("{at}/{key}"), errors);
                }
            }
            Value::Array(items) => {
                for (i, sub) in items.iter().enumerate() {
                    self.lint_refs(sub, &format!("{at}/{i}"), errors);
                }
            }
            _ => {}
        }
    }

    fn lint_schema(&self, schema: &Value, at: &str, errors: &mut Vec<String>) {
        let Some(keywords) = schema.as_object() else {
            errors.push(format!("{at}: the schema is not an object"));
            return;
        };
        for (keyword, argument) in keywords {
            let at = format!("{at}/{keyword}");
            match keyword.as_str() {
                "properties" => {
                    for (name, sub) in argument.as_object().into_iter().flatten() {
                        self.lint_schema(sub, &format!("{at}/{name}"), errors);
                    }
                }
                "allOf" => {
                    for (i, sub) in argument.as_array().into_iter().flatten().enumerate() {
                        self.lint_schema(sub, &format!("{at}/{i}"), errors);
                    }
                }
                "items" => self.lint_schema(argument, &at, errors),
                "additionalProperties" if argument.is_object() => {
                    self.lint_schema(argument, &at, errors);
                }
                "$ref" | "type" | "required" | "enum" | "additionalProperties" => {}
                k if ANNOTATIONS.contains(&k) => {}
                other => errors.push(format!("{at}: unsupported schema keyword `{other}`")),
            }
        }
    }
}

fn type_matches(expected: &Value, value: &Value) -> bool {
    let one = |t: &Value| match t.as_str() {
        Some("object") => value.is_object(),
        Some("array") => value.is_array(),
        Some("string") => value.is_string(),
        Some("integer") => value.is_i64() || value.is_u64(),
        Some("number") => value.is_number(),
        Some("boolean") => value.is_boolean(),
        Some("null") => value.is_null(),
        _ => false,
    };
    match expected {
        Value::Array(types) => types.iter().any(one),
        t => one(t),
    }
}
