//! Table tests of defaulting, pruning and validation, including CEL through a kube-derive CRD
//! and the real Gateway API HTTPRoute CRD when `/work/shared/data` is present.

use serde_json::{Value, json};

use super::*;

fn rollout_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object"},
            "spec": {
                "type": "object",
                "required": ["replicas"],
                "properties": {
                    "replicas": {"type": "integer", "format": "int32", "minimum": 0},
                    "paused": {"type": "boolean", "default": false},
                    "mode": {"type": "string", "enum": ["a", "b"]},
                    "name": {"type": "string", "minLength": 2, "maxLength": 5, "pattern": "^[a-z]+$"},
                    "ratio": {"type": "number", "exclusiveMaximum": true, "maximum": 1},
                    "port": {"x-kubernetes-int-or-string": true},
                    "note": {"type": "string", "nullable": true},
                    "selector": {"type": "object", "additionalProperties": {"type": "string"}, "maxProperties": 2},
                    "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                    "tags": {"type": "array", "items": {"type": "string"}, "x-kubernetes-list-type": "set", "maxItems": 3, "minItems": 1},
                    "ports": {
                        "type": "array",
                        "x-kubernetes-list-type": "map",
                        "x-kubernetes-list-map-keys": ["name"],
                        "items": {"type": "object", "properties": {"name": {"type": "string"}, "port": {"type": "integer", "default": 80}}},
                    },
                    "strategy": {"type": "object", "properties": {"canary": {"type": "object", "properties": {"steps": {
                        "type": "array",
                        "items": {"type": "object", "properties": {"setWeight": {"type": "integer", "minimum": 0, "maximum": 100}}},
                    }}}}},
                    "choice": {
                        "type": "object",
                        "properties": {"x": {"type": "string"}, "y": {"type": "string"}},
                        "oneOf": [{"required": ["x"]}, {"required": ["y"]}],
                    },
                    "embedded": {"type": "object", "x-kubernetes-embedded-resource": true, "properties": {"spec": {"type": "object"}}},
                },
            },
        },
    })
}

fn object(spec: Value) -> Value {
    json!({"apiVersion": "kulta.io/v1", "kind": "Rollout", "metadata": {"name": "app"}, "spec": spec})
}

fn violations(spec: Value) -> Vec<(String, &'static str, String)> {
    validate(&rollout_schema(), &object(spec), None)
        .into_iter()
        .map(|v| (v.field, v.reason.as_str(), v.message))
        .collect()
}

#[test]
fn value_checks_word_their_errors_like_the_api_server() {
    let cases: Vec<(Value, &str, &str, &str)> = vec![
        (
            json!({}),
            "spec.replicas",
            "FieldValueRequired",
            "Required value",
        ),
        (
            json!({"replicas": "3"}),
            "spec.replicas",
            "FieldValueTypeInvalid",
            "Invalid value: \"string\": spec.replicas in body must be of type integer: \"string\"",
        ),
        (
            json!({"replicas": -1}),
            "spec.replicas",
            "FieldValueInvalid",
            "Invalid value: -1: spec.replicas in body should be greater than or equal to 0",
        ),
        (
            json!({"replicas": 4294967296u64}),
            "spec.replicas",
            "FieldValueInvalid",
            "Invalid value: 4294967296: spec.replicas in body must be of type int32: 4294967296",
        ),
        (
            json!({"replicas": 1, "mode": "x"}),
            "spec.mode",
            "FieldValueNotSupported",
            "Unsupported value: \"x\": supported values: \"a\", \"b\"",
        ),
        (
            json!({"replicas": 1, "name": "a"}),
            "spec.name",
            "FieldValueInvalid",
            "Invalid value: \"a\": spec.name in body should be at least 2 chars long",
        ),
        (
            json!({"replicas": 1, "name": "abcdef"}),
            "spec.name",
            "FieldValueTooLong",
            "Too long: may not be more than 5 bytes",
        ),
        (
            json!({"replicas": 1, "name": "ab1"}),
            "spec.name",
            "FieldValueInvalid",
            "Invalid value: \"ab1\": spec.name in body should match '^[a-z]+$'",
        ),
        (
            json!({"replicas": 1, "ratio": 1}),
            "spec.ratio",
            "FieldValueInvalid",
            "Invalid value: 1: spec.ratio in body should be less than 1",
        ),
        (
            json!({"replicas": 1, "port": true}),
            "spec.port",
            "FieldValueTypeInvalid",
            "Invalid value: \"boolean\": spec.port in body must be of type integer,string: \"boolean\"",
        ),
        (
            json!({"replicas": 1, "selector": {"a": "1", "b": "2", "c": "3"}}),
            "spec.selector",
            "FieldValueTooLong",
            "Too many: 3: must have at most 2 items",
        ),
        (
            json!({"replicas": 1, "selector": {"a": 1}}),
            "spec.selector[a]",
            "FieldValueTypeInvalid",
            "Invalid value: \"integer\": spec.selector[a] in body must be of type string: \"integer\"",
        ),
        (
            json!({"replicas": 1, "tags": ["x", "x"]}),
            "spec.tags[1]",
            "FieldValueDuplicate",
            "Duplicate value: \"x\"",
        ),
        (
            json!({"replicas": 1, "tags": []}),
            "spec.tags",
            "FieldValueInvalid",
            "Invalid value: []: spec.tags in body should have at least 1 items",
        ),
        (
            json!({"replicas": 1, "tags": ["a", "b", "c", "d"]}),
            "spec.tags",
            "FieldValueTooLong",
            "Too many: 4: must have at most 3 items",
        ),
        (
            json!({"replicas": 1, "ports": [{"name": "http"}, {"name": "http", "port": 81}]}),
            "spec.ports[1]",
            "FieldValueDuplicate",
            "Duplicate value: {\"name\":\"http\"}",
        ),
        (
            json!({"replicas": 1, "strategy": {"canary": {"steps": [{"setWeight": 10}, {"setWeight": 20}, {"setWeight": 150}]}}}),
            "spec.strategy.canary.steps[2].setWeight",
            "FieldValueInvalid",
            "Invalid value: 150: spec.strategy.canary.steps[2].setWeight in body should be less than or equal to 100",
        ),
        (
            json!({"replicas": 1, "choice": {"x": "1", "y": "2"}}),
            "spec.choice",
            "FieldValueInvalid",
            "Invalid value: {\"x\":\"1\",\"y\":\"2\"}: spec.choice in body must validate one and only one schema (oneOf)",
        ),
        (
            json!({"replicas": 1, "note": 5}),
            "spec.note",
            "FieldValueTypeInvalid",
            "Invalid value: \"integer\": spec.note in body must be of type string: \"integer\"",
        ),
    ];
    for (spec, field, reason, message) in cases {
        let found = violations(spec.clone());
        assert_eq!(
            found,
            vec![(field.to_string(), reason, message.to_string())],
            "spec {spec}"
        );
    }
}

#[test]
fn valid_objects_pass_including_nullable_int_or_string_and_one_of() {
    let spec = json!({
        "replicas": 3, "mode": "a", "name": "abc", "ratio": 0.5, "port": "http", "note": null,
        "selector": {"app": "web"}, "tags": ["a", "b"], "ports": [{"name": "a"}, {"name": "b"}],
        "choice": {"x": "1"}, "free": {"anything": [1, {"deep": true}]},
    });
    assert_eq!(violations(spec), vec![]);
    assert_eq!(violations(json!({"replicas": 1, "port": 8080})), vec![]);
}

#[test]
fn hostile_schemas_and_objects_never_panic() {
    let schemas = [
        json!(null),
        json!([1, 2]),
        json!({"type": 5, "properties": [], "required": "x", "items": "y", "enum": {}}),
        json!({"type": "string", "pattern": "(unclosed"}),
        json!({"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": [1]}),
        json!({"x-kubernetes-validations": [{"rule": "self.>"}, {"nope": 1}]}),
    ];
    let objects = [
        json!(null),
        json!("s"),
        json!([null, {}]),
        json!({"a": {"b": []}}),
    ];
    for schema in &schemas {
        for object in &objects {
            let _ = validate(schema, object, Some(object));
            let mut copy = object.clone();
            apply_defaults(schema, &mut copy);
            prune(schema, &mut copy);
            let _ = unknown_fields(schema, object);
        }
    }
    // Deep nesting is bounded.
    let mut deep_schema = json!({"type": "object"});
    let mut deep_object = json!({});
    for _ in 0..500 {
        deep_schema = json!({"type": "object", "properties": {"a": deep_schema}, "x-kubernetes-validations": [{"rule": "true"}]});
        deep_object = json!({"a": deep_object});
    }
    let _ = validate(&deep_schema, &deep_object, None);
}

#[test]
fn defaults_fill_absent_fields_recursively_and_replace_nulls() {
    let mut object =
        object(json!({"replicas": 1, "paused": null, "ports": [{"name": "http"}], "note": null}));
    apply_defaults(&rollout_schema(), &mut object);
    assert_eq!(object["spec"]["paused"], json!(false));
    assert_eq!(object["spec"]["ports"][0]["port"], json!(80));
    // nullable keeps the null.
    assert_eq!(object["spec"]["note"], Value::Null);

    let schema = json!({"type": "object", "properties": {
        "outer": {"type": "object", "default": {}, "properties": {"inner": {"type": "integer", "default": 7}}},
        "gone": {"type": "string"},
        "map": {"type": "object", "additionalProperties": {"type": "object", "properties": {"w": {"type": "integer", "default": 1}}}},
    }});
    let mut object = json!({"gone": null, "map": {"x": {}, "y": {"w": 2}}});
    apply_defaults(&schema, &mut object);
    assert_eq!(
        object,
        json!({"outer": {"inner": 7}, "map": {"x": {"w": 1}, "y": {"w": 2}}})
    );
}

#[test]
fn pruning_drops_unknown_fields_but_keeps_preserved_and_root_fields() {
    let mut object = object(json!({
        "replicas": 1,
        "bogus": 1,
        "free": {"anything": {"x": 1}},
        "selector": {"any-key": "v"},
        "ports": [{"name": "a", "extra": true}],
        "embedded": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "junk": 1}, "spec": {}, "other": 1},
    }));
    object["metadata"]["weird"] = json!(1);
    object["status"] = json!({"x": 1});
    let unknown = unknown_fields(&rollout_schema(), &object);
    assert_eq!(
        unknown,
        vec![
            "metadata.weird",
            "spec.bogus",
            "spec.embedded.metadata.junk",
            "spec.embedded.other",
            "spec.ports[0].extra",
            "status",
        ]
    );
    prune(&rollout_schema(), &mut object);
    assert_eq!(object["apiVersion"], "kulta.io/v1");
    assert_eq!(object["metadata"], json!({"name": "app"}));
    assert_eq!(object["spec"]["free"], json!({"anything": {"x": 1}}));
    assert_eq!(object["spec"]["selector"], json!({"any-key": "v"}));
    assert_eq!(object["spec"]["ports"], json!([{"name": "a"}]));
    assert_eq!(
        object["spec"]["embedded"],
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {}})
    );
    assert!(object.get("status").is_none());
    assert!(unknown_fields(&rollout_schema(), &object).is_empty());
}

mod derived {
    use kube::CustomResource;
    use kube::CustomResourceExt;
    use kube::KubeSchema;
    use serde::{Deserialize, Serialize};

    /// A small CRD carrying CEL rules at several levels, as kube-derive writes them.
    #[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug)]
    #[kube(
        group = "sim.kulta.io",
        version = "v1",
        kind = "Canary",
        namespaced,
        validation = "self.metadata.name != 'forbidden'"
    )]
    #[x_kube(validation = Rule::new("self.maxWeight >= self.weight").message("weight must not exceed maxWeight"))]
    #[serde(rename_all = "camelCase")]
    pub struct CanarySpec {
        pub weight: i32,
        pub max_weight: i32,
        #[x_kube(validation = Rule::new("self == oldSelf").message("service is immutable"))]
        pub service: String,
        #[x_kube(validation = Rule::new("self.all(s, s.size() > 0)").message(kube::core::Message::Expression("'steps must be non-empty, got ' + string(self.size())".into())))]
        pub steps: Vec<String>,
    }

    pub fn schema() -> serde_json::Value {
        let crd = serde_json::to_value(Canary::crd()).unwrap_or_default();
        crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"].clone()
    }
}

fn canary(weight: i64, max: i64, service: &str, steps: Value, name: &str) -> Value {
    json!({
        "apiVersion": "sim.kulta.io/v1", "kind": "Canary", "metadata": {"name": name},
        "spec": {"weight": weight, "maxWeight": max, "service": service, "steps": steps},
    })
}

#[test]
fn cel_rules_from_a_kube_derive_crd() {
    let schema = derived::schema();
    assert!(schema.to_string().contains("x-kubernetes-validations"));
    let ok = canary(10, 50, "web", json!(["a"]), "app");
    assert_eq!(validate(&schema, &ok, None), vec![]);

    let too_heavy = canary(60, 50, "web", json!(["a"]), "app");
    assert_eq!(
        validate(&schema, &too_heavy, None),
        vec![FieldViolation {
            field: "spec".into(),
            reason: ViolationReason::Invalid,
            message: "Invalid value: weight must not exceed maxWeight".into(),
        }]
    );

    let empty_step = canary(1, 2, "web", json!(["a", ""]), "app");
    let found = validate(&schema, &empty_step, None);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].field, "spec.steps");
    assert_eq!(
        found[0].message,
        "Invalid value: steps must be non-empty, got 2"
    );

    let root = validate(&schema, &canary(1, 2, "web", json!([]), "forbidden"), None);
    assert_eq!(root.len(), 1, "{root:?}");
    assert_eq!(
        root[0].message,
        "Invalid value: failed rule: self.metadata.name != 'forbidden'"
    );
}

#[test]
fn transition_rules_need_an_old_object() {
    let schema = derived::schema();
    let old = canary(1, 2, "web", json!([]), "app");
    let renamed = canary(1, 2, "api", json!([]), "app");
    assert_eq!(
        validate(&schema, &renamed, None),
        vec![],
        "create skips oldSelf rules"
    );
    let found = validate(&schema, &renamed, Some(&old));
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].field, "spec.service");
    assert_eq!(
        found[0].message,
        "Invalid value: \"api\": service is immutable"
    );
    assert_eq!(validate(&schema, &old, Some(&old)), vec![]);
}

#[test]
fn cel_reasons_field_paths_and_compile_failures() {
    let schema = json!({"type": "object", "properties": {"spec": {
        "type": "object",
        "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
        "x-kubernetes-validations": [
            {"rule": "self.a < 10", "message": "a too big", "reason": "FieldValueForbidden", "fieldPath": ".a"},
            {"rule": "self.b <", "message": "never"},
        ],
    }}});
    let found = validate(&schema, &json!({"spec": {"a": 11, "b": 1}}), None);
    assert_eq!(found.len(), 2, "{found:?}");
    assert_eq!(found[0].field, "spec.a");
    assert_eq!(found[0].reason, ViolationReason::Forbidden);
    assert_eq!(found[0].message, "Forbidden: a too big");
    assert_eq!(found[1].field, "spec");
    assert!(
        found[1].message.contains("compilation failed"),
        "{}",
        found[1].message
    );
}

#[test]
fn compiled_rules_are_kept_by_the_prepared_schema_so_many_writes_stay_cheap() {
    let schema = Schema::new(derived::schema());
    assert!(
        !schema.is_compiled(),
        "nothing is compiled before a write needs it"
    );
    let started = std::time::Instant::now();
    for weight in 0..1000 {
        let object = canary(weight % 50, 50, "web", json!(["a"]), "app");
        assert!(schema.validate(&object, Some(&object)).is_empty());
    }
    assert!(schema.is_compiled());
    // Recompiling every time costs far more; this is a generous bound for a debug build.
    assert!(
        started.elapsed() < std::time::Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    let too_heavy = canary(60, 50, "web", json!(["a"]), "app");
    assert_eq!(schema.validate(&too_heavy, None).len(), 1);
}

#[test]
fn a_schema_without_rules_never_compiles() {
    let schema = Schema::new(rollout_schema());
    assert!(
        schema
            .validate(&object(json!({"replicas": 1})), None)
            .is_empty()
    );
    assert!(!schema.is_compiled());
}

/// A file of the Gateway API v1.5.1 reference data (see [`crate::reference`]), as YAML.
fn load_yaml(file: &str) -> Option<Value> {
    let path = crate::reference::gateway_api_v1_5_1()?.join(file);
    let text = std::fs::read_to_string(path).ok()?;
    serde_saphyr::from_str::<Value>(&text).ok()
}

fn httproute_schema() -> Option<Value> {
    let crd = load_yaml("httproutes.yaml")?;
    let versions = crd["spec"]["versions"].as_array()?;
    let v1 = versions.iter().find(|version| version["name"] == "v1")?;
    Some(v1["schema"]["openAPIV3Schema"].clone())
}

#[test]
fn real_httproute_crd_accepts_the_examples_and_enforces_its_cel_rules() {
    let Some(schema) = httproute_schema() else {
        return;
    };
    for example in [
        "http-filter.yaml",
        "simple-gateway--httproute.yaml",
        "traffic-splitting--simple-split.yaml",
    ] {
        let Some(mut route) = load_yaml(&format!("examples/{example}")) else {
            eprintln!("skipping example {example}: not readable as one YAML document");
            continue;
        };
        route["metadata"]["namespace"] = json!("default");
        apply_defaults(&schema, &mut route);
        assert_eq!(
            unknown_fields(&schema, &route),
            Vec::<String>::new(),
            "{example}"
        );
        assert_eq!(validate(&schema, &route, None), vec![], "{example}");
    }

    let Some(sample) = load_yaml("examples/http-filter.yaml") else {
        return;
    };
    let prepared = Schema::new(schema.clone());
    let started = std::time::Instant::now();
    for _ in 0..200 {
        let mut route = sample.clone();
        apply_defaults(&schema, &mut route);
        prune(&schema, &mut route);
        assert!(prepared.validate(&route, Some(&route)).is_empty());
    }
    eprintln!("200 HTTPRoute writes checked in {:?}", started.elapsed());

    let mut broken = json!({
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
        "metadata": {"name": "bad", "namespace": "default"},
        "spec": {"rules": [{"filters": [{"type": "RequestHeaderModifier"}], "backendRefs": [{"name": "svc", "port": 80}]}]},
    });
    apply_defaults(&schema, &mut broken);
    let found = validate(&schema, &broken, None);
    assert!(
        found.iter().any(|violation| violation.field == "spec.rules[0].filters[0]"
            && violation.message.contains("filter.requestHeaderModifier must be specified for RequestHeaderModifier filter.type")),
        "{found:#?}"
    );

    let mut heavy = json!({
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
        "metadata": {"name": "heavy", "namespace": "default"},
        "spec": {"rules": [{"backendRefs": [{"name": "svc", "port": 80, "weight": 2000000}]}]},
    });
    apply_defaults(&schema, &mut heavy);
    let found = validate(&schema, &heavy, None);
    assert!(
        found.iter().any(
            |violation| violation.field == "spec.rules[0].backendRefs[0].weight"
                && violation
                    .message
                    .contains("should be less than or equal to 1000000")
        ),
        "{found:#?}"
    );

    let mut objects = vec![sample, broken];
    for example in [
        "simple-gateway--httproute.yaml",
        "traffic-splitting--simple-split.yaml",
    ] {
        if let Some(mut route) = load_yaml(&format!("examples/{example}")) {
            apply_defaults(&schema, &mut route);
            objects.push(route);
        }
    }
    assert!(assert_trimming_agrees(&schema, &objects) >= 1);
}

#[test]
fn float_bounds_and_values_print_like_go() {
    let schema = json!({"type": "object", "properties": {
        "port": {"type": "integer", "minimum": 1.0, "maximum": 65535.0},
        "ratio": {"type": "number", "maximum": 0.5},
    }});
    let messages = |object: Value| -> Vec<String> {
        validate(&schema, &object, None)
            .into_iter()
            .map(|v| v.message)
            .collect()
    };
    assert_eq!(
        messages(json!({"port": 70000})),
        ["Invalid value: 70000: port in body should be less than or equal to 65535"]
    );
    assert_eq!(
        messages(json!({"port": 0})),
        ["Invalid value: 0: port in body should be greater than or equal to 1"]
    );
    assert_eq!(
        messages(json!({"ratio": 2.0})),
        ["Invalid value: 2: ratio in body should be less than or equal to 0.5"]
    );
    for (float, expected) in [
        (65535.0, "65535"),
        (0.5, "0.5"),
        (-3.0, "-3"),
        (1e21, "1e+21"),
        (1.5e-5, "1.5e-05"),
        (0.0001, "0.0001"),
        (123456789.0, "123456789"),
    ] {
        assert_eq!(checks::go_float(float), expected);
    }
}

#[test]
fn a_missing_required_field_is_reported_after_the_errors_of_present_fields() {
    // kube-openapi's object validator checks the properties first, then `required`.
    let found = violations(json!({"strategy": {"canary": {"steps": [{"setWeight": 150}]}}}));
    let fields: Vec<&str> = found.iter().map(|(field, _, _)| field.as_str()).collect();
    assert_eq!(
        fields,
        ["spec.strategy.canary.steps[0].setWeight", "spec.replicas"]
    );
}

#[test]
fn go_values_print_with_their_go_types() {
    for (value, shown, type_name) in [
        (json!("three"), "three", "string"),
        (json!(true), "true", "bool"),
        (json!(1.5), "1.5", "float64"),
        (json!(3), "3", "int64"),
        (
            json!({"b": 1, "a": "x"}),
            "map[a:x b:1]",
            "map[string]interface {}",
        ),
        (json!([1, "a"]), "[1 a]", "[]interface {}"),
    ] {
        assert_eq!(go_value(&value), (shown.to_string(), type_name), "{value}");
    }
}

/// A schema whose rules read every kind of value kube-cel converts specially (date-times,
/// durations, bytes, maps with unescaped keys, embedded resources, escaped property names),
/// beside subtrees that hold nothing a rule can see.
fn trimming_schema() -> Value {
    json!({"type": "object", "properties": {
        "metadata": {"type": "object"},
        "spec": {
            "type": "object",
            "x-kubernetes-validations": [
                {"rule": "!has(self.window) || self.window.start < self.window.end", "message": "window ends before it starts"},
                {"rule": "!has(self.labels) || !('a.b' in self.labels) || self.labels['a.b'] != 'x'"},
                {"rule": "!has(self.timeout) || self.timeout < duration('1h')"},
                {"rule": "!has(self.data) || size(self.data) < 4"},
                {"rule": "!has(self.plain) || !has(self.plain.x__dash__y) || self.plain.x__dash__y != 'bad'"},
                {"rule": "!has(self.max) || self.count <= self.max", "fieldPath": ".count"},
                {"rule": "!has(self.embedded) || self.embedded.kind != 'Bad'"},
                {"rule": "!has(self.free) || !has(self.free.flag) || self.free.flag"},
            ],
            "properties": {
                "count": {"type": "integer", "default": 1},
                "max": {"type": "integer"},
                "window": {"type": "object", "properties": {
                    "start": {"type": "string", "format": "date-time"},
                    "end": {"type": "string", "format": "date-time"},
                }},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                "timeout": {"type": "string", "format": "duration"},
                "data": {"type": "string", "format": "byte"},
                "plain": {"type": "object", "properties": {
                    "x-y": {"type": "string"},
                    "deep": {"type": "object", "properties": {"z": {"type": "integer"}}},
                }},
                "embedded": {"type": "object", "x-kubernetes-embedded-resource": true, "x-kubernetes-preserve-unknown-fields": true},
                "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                "steps": {"type": "array", "items": {"type": "object", "properties": {
                    "w": {"type": "integer", "x-kubernetes-validations": [{"rule": "self <= 100"}]},
                    "note": {"type": "string"},
                }}},
                "mixed": {"type": "object", "properties": {"known": {"type": "integer"}},
                    "additionalProperties": {"type": "integer", "x-kubernetes-validations": [{"rule": "self >= 0"}]}},
                "name": {"type": "string", "x-kubernetes-validations": [{"rule": "self == oldSelf", "message": "immutable"}]},
                "choice": {"type": "string", "allOf": [{"x-kubernetes-validations": [{"rule": "self != 'no'"}]}]},
            },
        },
        "status": {"type": "object", "properties": {
            "phase": {"type": "string"},
            "conditions": {"type": "array", "items": {"type": "object", "properties": {
                "type": {"type": "string"},
                "lastTransitionTime": {"type": "string", "format": "date-time"},
            }}},
        }},
    }})
}

fn trimming_objects() -> Vec<Value> {
    let base = json!({
        "apiVersion": "t.kulta.io/v1", "kind": "T", "metadata": {"name": "t"},
        "spec": {
            "count": 2, "max": 5,
            "window": {"start": "2026-01-01T00:00:00Z", "end": "2026-01-02T00:00:00Z"},
            "labels": {"a.b": "y", "c-d": "z"},
            "timeout": "30m", "data": "AAE=",
            "plain": {"x-y": "good", "deep": {"z": 3}},
            "embedded": {"apiVersion": "v1", "kind": "ConfigMap"},
            "free": {"flag": true, "any": {"thing": [1, 2]}},
            "steps": [{"w": 10, "note": "a"}, {"w": 20}],
            "mixed": {"known": -1, "other": 3},
            "name": "n", "choice": "yes",
        },
        "status": {"phase": "Running", "conditions": [{"type": "Ready", "lastTransitionTime": "2026-01-01T00:00:00Z"}]},
    });
    let with = |pointer: &str, value: Value| {
        let mut object = base.clone();
        if let Some(slot) = object.pointer_mut(pointer) {
            *slot = value;
        }
        object
    };
    vec![
        base.clone(),
        with("/spec/window/end", json!("2025-01-01T00:00:00Z")),
        with("/spec/labels", json!({"a.b": "x"})),
        with("/spec/timeout", json!("2h")),
        with("/spec/data", json!("AAECAwQF")),
        with("/spec/plain/x-y", json!("bad")),
        with("/spec/count", json!(9)),
        with("/spec/embedded", json!({"kind": "Bad"})),
        with("/spec/free/flag", json!(false)),
        with("/spec/steps/1/w", json!(101)),
        with("/spec/mixed/other", json!(-3)),
        with("/spec/name", json!("renamed")),
        with("/spec/choice", json!("no")),
        with("/spec/plain/deep/z", json!(-100)),
        with("/status/phase", json!("Failed")),
        json!({"apiVersion": "t.kulta.io/v1", "kind": "T", "metadata": {"name": "t"}, "spec": {}}),
    ]
}

/// Trimming the compiled tree and leaving out the stored object when no rule reads it change
/// nothing kube-cel reports: every object, with and without an old one, gets exactly what the
/// whole tree gives.
///
/// Objects are defaulted and pruned first, as every write does before it validates; the stored
/// object is tried as it is too.
fn assert_trimming_agrees(schema: &Value, objects: &[Value]) -> usize {
    let prepared = Schema::new(schema.clone());
    let compiled = cel::CompiledRules::compile(schema);
    let written: Vec<Value> = objects
        .iter()
        .map(|object| {
            let mut object = object.clone();
            apply_defaults(schema, &mut object);
            prune(schema, &mut object);
            object
        })
        .collect();
    // kube-cel walks properties in hash-map order, which differs from one compilation to the
    // next: the violations are compared in a fixed order.
    let sorted = |mut violations: Vec<FieldViolation>| {
        violations.sort_by(|a, b| (&a.field, &a.message).cmp(&(&b.field, &b.message)));
        violations
    };
    let mut refused = 0;
    for object in &written {
        for old in [None, written.first(), objects.first()] {
            let expected = sorted(cel::check_untrimmed(schema, object, old));
            assert_eq!(sorted(compiled.check(object, old)), expected, "{object}");
            let mut all = Vec::new();
            checks::check_node(schema, object, "", &mut all, 0);
            if all.is_empty() {
                assert_eq!(sorted(prepared.validate(object, old)), expected, "{object}");
            }
            refused += usize::from(!expected.is_empty());
        }
    }
    refused
}

#[test]
fn trimmed_cel_trees_report_what_the_whole_tree_reports() {
    let schema = trimming_schema();
    let objects = trimming_objects();
    let refused = assert_trimming_agrees(&schema, &objects);
    assert!(refused >= 13, "most variants break a rule: {refused}");
    let compiled = cel::CompiledRules::compile(&schema);
    assert!(
        compiled.keeps(&["spec", "window"]),
        "date-times convert specially"
    );
    assert!(
        compiled.keeps(&["spec", "count"]),
        "a rule reads oldSelf, and the stored object is defaulted before the rules"
    );
    assert!(
        !compiled.keeps(&["spec", "plain"]),
        "nothing below plain is special"
    );
    assert!(!compiled.keeps(&["spec", "max"]));
    assert!(!compiled.keeps(&["metadata"]));
    assert!(!compiled.keeps(&["status"]), "no rule sees the status");

    let derived = derived::schema();
    let canaries = [
        canary(10, 50, "web", json!(["a"]), "app"),
        canary(60, 50, "api", json!(["a", ""]), "app"),
        canary(1, 2, "web", json!([]), "forbidden"),
    ];
    assert!(assert_trimming_agrees(&derived, &canaries) >= 3);
}

#[test]
fn trimmed_cel_trees_agree_on_kultas_rollout_crd() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../deploy/crds/rollouts.kulta.io.yaml"
    );
    // The repository's own CRD: always there.
    let text = std::fs::read_to_string(path).expect("the committed Rollout CRD");
    let crd: Value = serde_saphyr::from_str(&text).expect("the Rollout CRD is YAML");
    let schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"].clone();
    let rollout = |steps: Value, stable: &str| {
        json!({"apiVersion": "kulta.io/v1alpha1", "kind": "Rollout", "metadata": {"name": "app"},
            "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "a"}},
                "template": {"metadata": {"labels": {"app": "a"}}, "spec": {"containers": [{"name": "web", "image": "nginx"}]}},
                "strategy": {"canary": {"stableService": stable, "canaryService": "app-canary", "steps": steps,
                    "trafficRouting": {"gatewayAPI": {"httpRoute": "app"}}}}},
            "status": {"phase": "Progressing", "currentStepIndex": 1, "pauseStartTime": "2026-01-01T00:00:00Z",
                "conditions": [{"type": "Ready", "status": "False", "reason": "Progressing", "message": "m",
                    "lastTransitionTime": "2026-01-01T00:00:00Z", "observedGeneration": 1}]}})
    };
    let objects = [
        rollout(
            json!([{"setWeight": 20}, {"pause": {}}, {"setWeight": 100}]),
            "app-stable",
        ),
        rollout(json!([{"setWeight": 120}]), "app-stable"),
        rollout(
            json!([{"setWeight": 20, "setCanaryScale": {"replicas": 1}}]),
            "app-stable",
        ),
        rollout(json!([{"pause": {}}]), "app-canary"),
    ];
    assert!(assert_trimming_agrees(&schema, &objects) >= 3);
}

#[test]
fn what_passed_is_remembered_and_only_what_passed() {
    // Without the transition rule, a result depends on what the rules see and nothing else.
    let mut schema = trimming_schema();
    schema["properties"]["spec"]["properties"]["name"] = json!({"type": "string"});
    let objects = trimming_objects();
    assert!(assert_trimming_agrees(&schema, &objects) >= 11);

    let compiled = cel::CompiledRules::compile(&schema);
    let written = |object: &Value| {
        let mut object = object.clone();
        apply_defaults(&schema, &mut object);
        prune(&schema, &mut object);
        object
    };
    let good = written(&objects[0]);
    assert_eq!(compiled.check(&good, None), vec![]);
    assert_eq!(compiled.remembered(), 1);
    let mut status_only = good.clone();
    status_only["status"]["phase"] = json!("Failed");
    status_only["metadata"]["name"] = json!("other");
    assert_eq!(compiled.check(&status_only, Some(&good)), vec![]);
    assert_eq!(compiled.remembered(), 1, "the rules saw the same spec");
    let bad = written(&objects[9]);
    let expected = cel::check_untrimmed(&schema, &bad, None);
    assert_eq!(expected.len(), 1, "{expected:?}");
    for _ in 0..2 {
        assert_eq!(compiled.check(&bad, None), expected);
    }
    assert_eq!(compiled.remembered(), 1, "refusals are never remembered");
    let mut fixed = bad.clone();
    fixed["spec"]["steps"][1]["w"] = json!(100);
    assert_eq!(compiled.check(&fixed, None), vec![]);
    assert_eq!(compiled.remembered(), 2);
}

#[test]
fn failed_bounds_do_not_stop_the_rules_but_a_missing_field_does() {
    let schema = derived::schema();
    // A bound is not in the schema kube-derive writes for i32; add one.
    let mut bounded = schema.clone();
    bounded["properties"]["spec"]["properties"]["weight"]["maximum"] = json!(100);
    let heavy = canary(150, 50, "web", json!(["a"]), "app");
    let found = validate(&bounded, &heavy, None);
    assert_eq!(
        found
            .iter()
            .map(|v| (v.field.as_str(), v.message.as_str()))
            .collect::<Vec<_>>(),
        vec![
            (
                "spec.weight",
                "Invalid value: 150: spec.weight in body should be less than or equal to 100"
            ),
            ("spec", "Invalid value: weight must not exceed maxWeight"),
        ],
        "both the bound and the rule"
    );

    let mut missing = heavy.clone();
    missing["spec"].as_object_mut().unwrap().remove("service");
    let found = validate(&bounded, &missing, None);
    assert_eq!(
        found
            .iter()
            .map(|v| (v.field.as_str(), v.reason))
            .collect::<Vec<_>>(),
        // The present field's error first, then the missing one (kube-openapi's order).
        vec![
            ("spec.weight", ViolationReason::Invalid),
            ("spec.service", ViolationReason::Required),
            ("<nil>", ViolationReason::Invalid),
        ],
        "{found:?}"
    );
    assert_eq!(
        found[2].message,
        "Invalid value: null: some validation rules were not checked because the object was invalid; correct the existing errors to complete validation"
    );
}
