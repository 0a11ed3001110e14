//! The extender's JSON against golden files: answers in the Go field names' exact case, and
//! requests read whatever the letter case of the extender's own keys, as Go's decoder does,
//! while node names (map keys) and the Kubernetes objects inside are kept as sent.

use ironspider_scheduler::protocol::{
    ExtenderArgs, ExtenderBindingArgs, ExtenderBindingResult, ExtenderFilterResult, ExtenderPreemptionArgs,
    ExtenderPreemptionResult, HostPriority, HostPriorityList, MetaPod, MetaVictims, decode,
};
use std::collections::BTreeMap;
use std::path::Path;

fn golden(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).trim_end().to_string()
}

fn reasons(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn meta_victims(node: &str) -> BTreeMap<String, MetaVictims> {
    let victims = MetaVictims { pods: vec![MetaPod { uid: "uid-1".into() }], num_pdb_violations: 1 };
    [(node.to_string(), victims)].into()
}

#[test]
fn answers_are_written_with_the_go_field_names() {
    let filter = ExtenderFilterResult {
        node_names: Some(vec!["machine1".into()]),
        failed_nodes: reasons(&[("machine2", "needs 2 GPUs, 1 free")]),
        failed_and_unresolvable_nodes: reasons(&[("machine3", "no telemetry and no inventory entry")]),
        ..ExtenderFilterResult::default()
    };
    assert_eq!(serde_json::to_string(&filter).unwrap(), golden("filter_result.json"));
    let priorities: HostPriorityList =
        vec![HostPriority { host: "machine1".into(), score: 10 }, HostPriority { host: "machine2".into(), score: 0 }];
    assert_eq!(serde_json::to_string(&priorities).unwrap(), golden("host_priority_list.json"));
    let binding = ExtenderBindingResult { error: "node machine9 is unknown".into() };
    assert_eq!(serde_json::to_string(&binding).unwrap(), golden("binding_result.json"));
    let preemption = ExtenderPreemptionResult { node_name_to_meta_victims: meta_victims("machine1") };
    assert_eq!(serde_json::to_string(&preemption).unwrap(), golden("preemption_result.json"));
}

#[test]
fn answers_read_back_as_written() {
    for name in ["filter_result.json", "binding_result.json", "preemption_result.json"] {
        let text = golden(name);
        let again = match name {
            "filter_result.json" => serde_json::to_string(&decode::<ExtenderFilterResult>(text.as_bytes()).unwrap()),
            "binding_result.json" => serde_json::to_string(&decode::<ExtenderBindingResult>(text.as_bytes()).unwrap()),
            _ => serde_json::to_string(&decode::<ExtenderPreemptionResult>(text.as_bytes()).unwrap()),
        };
        assert_eq!(again.unwrap(), text, "{name}");
    }
}

#[test]
fn requests_are_read_in_any_letter_case() {
    let lower: ExtenderArgs = decode(golden("args_lower.json").as_bytes()).expect("lower-case args");
    let mixed: ExtenderArgs = decode(golden("args_mixed.json").as_bytes()).expect("mixed-case args");
    assert_eq!(lower, mixed);
    assert_eq!(lower.node_names.as_deref(), Some(&["machine1".to_string(), "machine2".to_string()][..]));
    assert_eq!(lower.nodes, None);
    assert_eq!(lower.pod.metadata.uid.as_deref(), Some("uid-7"));
    let requests = lower.pod.spec.expect("spec").containers[0].resources.clone().unwrap().requests.unwrap();
    assert_eq!(requests["nvidia.com/gpu"].0, "1");

    let binding: ExtenderBindingArgs = decode(golden("binding_args_mixed.json").as_bytes()).expect("binding args");
    assert_eq!(
        binding,
        ExtenderBindingArgs {
            pod_name: "trainer".into(),
            pod_namespace: "ml".into(),
            pod_uid: "uid-7".into(),
            node: "machine1".into()
        }
    );

    let preemption: ExtenderPreemptionArgs =
        decode(golden("preemption_args_lower.json").as_bytes()).expect("preemption");
    assert_eq!(preemption.node_name_to_meta_victims, meta_victims("Machine1"), "node names keep their case");

    let priorities: HostPriorityList = decode(br#"[{"host":"m1","SCORE":3}]"#).expect("priorities");
    assert_eq!(priorities, [HostPriority { host: "m1".into(), score: 3 }]);
}

#[test]
fn malformed_requests_are_errors_not_panics() {
    for body in [&b"{"[..], b"[]", b"{\"Pod\": 5}", b"\xff\xfe"] {
        assert!(decode::<ExtenderArgs>(body).is_err(), "{}", String::from_utf8_lossy(body));
    }
    // Invalid UTF-8 inside a node name: the body is refused, saying why.
    let error = decode::<ExtenderArgs>(b"{\"Pod\":{},\"NodeNames\":[\"n\xc3\"]}").unwrap_err();
    assert!(error.to_string().starts_with("the body is not UTF-8"), "{error}");
    let names: ExtenderArgs = decode("{\"Pod\":{},\"NodeNames\":[\"nœud-1\",\"n\\u00e9\"]}".as_bytes()).unwrap();
    assert_eq!(names.node_names.unwrap(), ["nœud-1", "né"], "non-ASCII names, plain and escaped");
    let empty: ExtenderArgs = decode(br#"{"Pod":{}}"#).expect("a pod with nothing set still decodes");
    assert_eq!((empty.nodes, empty.node_names), (None, None));
}
