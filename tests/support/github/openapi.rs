//! Validates requests and responses against GitHub's REST OpenAPI subset in `../shared/fixtures`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use serde_json::{Map, Value};

const SPEC_FILE: &str = "shared/fixtures/github-rest-openapi-subset.json";

/// Where the OpenAPI description lives (never copied into the project):
/// `../shared/fixtures/…` from the project root, or from an ancestor of it
/// when the project is a git worktree nested deeper.
pub fn spec_path() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    root.ancestors()
        .skip(1)
        .map(|dir| dir.join(SPEC_FILE))
        .find(|p| p.is_file())
        .unwrap_or_else(|| root.join("..").join(SPEC_FILE))
}

/// The parsed description, loaded once per test process.
pub fn spec() -> &'static OpenApi {
    static SPEC: OnceLock<OpenApi> = OnceLock::new();
    SPEC.get_or_init(|| {
        let path = spec_path();
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        let doc: Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()));
        OpenApi::new(doc)
    })
}

/// One operation of the description: `GET /repos/{owner}/{repo}` and its JSON pointer.
#[derive(Debug, Clone)]
pub struct Operation {
    pub method: String,
    pub template: String,
    segments: Vec<String>,
    pointer: String,
}

impl Operation {
    /// `Some(literal segment count)` when `path` (no query) fits this template.
    /// A parameter matches one segment, except a trailing `{path}` or `{ref}`,
    /// which may also swallow several (`src/lib.rs`, `heads/a/b`).
    fn fit(&self, segments: &[&str]) -> Option<usize> {
        let is_param = |s: &str| s.starts_with('{') && s.ends_with('}');
        let n = self.segments.len();
        let tail_param = self
            .segments
            .last()
            .is_some_and(|s| s == "{path}" || s == "{ref}");
        if segments.len() != n && !(tail_param && segments.len() > n) {
            return None;
        }
        let mut literals = 0;
        for (t, s) in self.segments.iter().zip(segments) {
            if is_param(t) {
                if s.is_empty() {
                    return None;
                }
            } else if t == s {
                literals += 1;
            } else {
                return None;
            }
        }
        Some(literals)
    }
}

/// The OpenAPI description with a cache of compiled validators.
pub struct OpenApi {
    doc: Value,
    operations: Vec<Operation>,
    compiled: Mutex<HashMap<String, Arc<jsonschema::Validator>>>,
}

fn escape_pointer(s: &str) -> String {
    s.replace('~', "~0").replace('/', "~1")
}

impl OpenApi {
    fn new(doc: Value) -> Self {
        let mut operations = Vec::new();
        if let Some(paths) = doc.get("paths").and_then(Value::as_object) {
            for (template, item) in paths {
                let Some(item) = item.as_object() else {
                    continue;
                };
                for method in item.keys().filter(|m| *m != "parameters") {
                    operations.push(Operation {
                        method: method.to_uppercase(),
                        template: template.clone(),
                        segments: template
                            .trim_matches('/')
                            .split('/')
                            .map(String::from)
                            .collect(),
                        pointer: format!("/paths/{}/{}", escape_pointer(template), method),
                    });
                }
            }
        }
        OpenApi {
            doc,
            operations,
            compiled: Mutex::new(HashMap::new()),
        }
    }

    /// The operation for a method and a concrete path (a query string is ignored);
    /// the template with the most literal segments wins.
    pub fn find(&self, method: &str, path: &str) -> Option<&Operation> {
        let path = path.split('?').next().unwrap_or_default();
        let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        self.operations
            .iter()
            .filter(|op| op.method.eq_ignore_ascii_case(method))
            .filter_map(|op| op.fit(&segments).map(|literals| (literals, op)))
            .max_by_key(|(literals, _)| *literals)
            .map(|(_, op)| op)
    }

    /// Like [`OpenApi::find`], but a `POST` to a path that only has `PATCH`
    /// resolves to that `PATCH` (GitHub accepts `POST` for `PATCH`).
    pub fn resolve(&self, method: &str, path: &str) -> Option<&Operation> {
        self.find(method, path).or_else(|| {
            method
                .eq_ignore_ascii_case("POST")
                .then(|| self.find("PATCH", path))
                .flatten()
        })
    }

    /// The documented statuses of an operation (`"200"`, `"404"`, …).
    pub fn statuses(&self, op: &Operation) -> Vec<String> {
        self.doc
            .pointer(&format!("{}/responses", op.pointer))
            .and_then(Value::as_object)
            .map(|r| r.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// Validates a response. Errors when the operation is unknown, the status is
    /// not documented for it, or the body does not fit the documented schema.
    pub fn validate_response(
        &self,
        method: &str,
        path: &str,
        status: u16,
        body: &[u8],
    ) -> Result<(), Vec<String>> {
        let op = self.resolve(method, path).ok_or_else(|| {
            vec![format!(
                "{method} {path}: no such operation in the OpenAPI subset"
            )]
        })?;
        let response = format!("{}/responses/{status}", op.pointer);
        let documented = self.doc.pointer(&response).ok_or_else(|| {
            vec![format!(
                "{method} {path} ({}): status {status} is not documented (documented: {:?})",
                op.template,
                self.statuses(op)
            )]
        })?;
        match documented.get("content") {
            None => {
                if body.iter().all(u8::is_ascii_whitespace) {
                    Ok(())
                } else {
                    Err(vec![format!(
                        "{method} {path}: status {status} documents no body, got {}",
                        String::from_utf8_lossy(body)
                    )])
                }
            }
            Some(content) => {
                let pointer = schema_pointer(&response, content);
                self.validate_at(&pointer, body, &format!("{method} {path} -> {status}"))
            }
        }
    }

    /// Validates a request body. `Ok(false)` when the operation is unknown or
    /// documents no request body (nothing to check); `Ok(true)` when it fits.
    pub fn validate_request(
        &self,
        method: &str,
        path: &str,
        body: &[u8],
    ) -> Result<bool, Vec<String>> {
        let Some(op) = self.find(method, path) else {
            return Ok(false);
        };
        let request = format!("{}/requestBody", op.pointer);
        let Some(documented) = self.doc.pointer(&request) else {
            return Ok(false);
        };
        let required = documented.get("required").and_then(Value::as_bool) == Some(true);
        if body.iter().all(u8::is_ascii_whitespace) {
            return if required {
                Err(vec![format!(
                    "{method} {path}: the request body is required"
                )])
            } else {
                Ok(true)
            };
        }
        let content = documented.get("content").cloned().unwrap_or(Value::Null);
        let pointer = schema_pointer(&request, &content);
        self.validate_at(&pointer, body, &format!("{method} {path} request"))
            .map(|()| true)
    }

    fn validate_at(&self, pointer: &str, body: &[u8], what: &str) -> Result<(), Vec<String>> {
        let instance: Value = serde_json::from_slice(body).map_err(|e| {
            vec![format!(
                "{what}: body is not JSON ({e}): {}",
                String::from_utf8_lossy(body)
            )]
        })?;
        let validator = self
            .validator(pointer)
            .map_err(|e| vec![format!("{what}: {e}")])?;
        let errors: Vec<String> = validator
            .iter_errors(&instance)
            .map(|e| format!("{what}: at {}: {e}", e.instance_path()))
            .collect();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    fn validator(&self, pointer: &str) -> Result<Arc<jsonschema::Validator>, String> {
        let mut cache = self
            .compiled
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(v) = cache.get(pointer) {
            return Ok(v.clone());
        }
        let schema = self
            .doc
            .pointer(pointer)
            .ok_or_else(|| format!("no schema at {pointer}"))?;
        let schema = to_json_schema(schema);
        let validator = jsonschema::options()
            .with_draft(jsonschema::Draft::Draft202012)
            .should_validate_formats(true)
            .build(&schema)
            .map_err(|e| format!("schema at {pointer} does not compile: {e}"))?;
        let validator = Arc::new(validator);
        cache.insert(pointer.to_string(), validator.clone());
        Ok(validator)
    }
}

/// The JSON schema pointer inside a `content` map: `application/json` when present,
/// else the first media type.
fn schema_pointer(base: &str, content: &Value) -> String {
    let media = content
        .as_object()
        .and_then(|c| {
            c.keys()
                .find(|k| *k == "application/json")
                .or_else(|| c.keys().next())
        })
        .cloned()
        .unwrap_or_else(|| "application/json".to_string());
    format!("{base}/content/{}/schema", escape_pointer(&media))
}

/// Converts an OpenAPI 3.0 schema to JSON Schema 2020-12: `nullable: true`
/// becomes a type union with `"null"` (or an `anyOf` with `{"type":"null"}`
/// when there is no single type), and an `enum` also admits `null`.
/// Annotation-only keywords (`example`, `x-github`, …) are left for the
/// validator to ignore.
pub fn to_json_schema(schema: &Value) -> Value {
    match schema {
        Value::Array(items) => Value::Array(items.iter().map(to_json_schema).collect()),
        Value::Object(map) => {
            let mut out = Map::new();
            for (k, v) in map {
                let converted = match k.as_str() {
                    // Literal values, not schemas.
                    "enum" | "example" | "examples" | "default" | "const" | "required" => v.clone(),
                    "properties" | "patternProperties" => match v {
                        Value::Object(props) => Value::Object(
                            props
                                .iter()
                                .map(|(name, s)| (name.clone(), to_json_schema(s)))
                                .collect(),
                        ),
                        other => other.clone(),
                    },
                    _ => to_json_schema(v),
                };
                out.insert(k.clone(), converted);
            }
            if out.remove("nullable") == Some(Value::Bool(true)) {
                if let Some(Value::Array(values)) = out.get_mut("enum") {
                    if !values.contains(&Value::Null) {
                        values.push(Value::Null);
                    }
                }
                match out.get("type").cloned() {
                    Some(Value::String(t)) => {
                        out.insert(
                            "type".into(),
                            Value::Array(vec![Value::String(t), "null".into()]),
                        );
                    }
                    _ => {
                        let inner = Value::Object(out);
                        let mut wrapped = Map::new();
                        wrapped.insert(
                            "anyOf".into(),
                            Value::Array(vec![serde_json::json!({"type": "null"}), inner]),
                        );
                        return Value::Object(wrapped);
                    }
                }
            }
            Value::Object(out)
        }
        other => other.clone(),
    }
}
