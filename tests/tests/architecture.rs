//! The layers the compiler enforces, checked: crates depend downward only
//! (read from `cargo metadata`), the pure crates depend on no runtime, no
//! database, no network and no wire format, the production `harambee`
//! build leaves the simulator out, and the split crates have no module
//! circles. See "Architecture invariants" in `docs/ARCHITECTURE.md`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Each workspace crate's layer, lowest first. A crate's normal and build
/// dependencies lie in lower layers only.
const LAYERS: &[(&str, u32)] = &[
    ("harambee-ledger", 0),
    ("harambee-iso8583", 0),
    ("harambee-settlement", 1),
    ("harambee-core", 2),
    ("harambee-log", 3),
    ("harambee-proto", 3),
    ("harambee-engine", 4),
    ("harambee-read", 5),
    ("harambee-service", 6),
    ("harambee-grpc", 7),
    ("harambee-fspiop", 7),
    ("harambee-iso8583-gateway", 7),
    ("harambee-tls", 7),
    // The console is an adapter over the Operator API's handlers.
    ("harambee-console", 8),
    ("harambee-cluster", 8),
    ("harambee-switch", 9),
    ("harambee-sim", 10),
    ("harambee-benches", 11),
    ("harambee-tests", 12),
];

/// The adapters: each translates one protocol onto the service layer and
/// reaches nothing below it.
const ADAPTERS: &[&str] = &[
    "harambee-grpc",
    "harambee-console",
    "harambee-fspiop",
    "harambee-iso8583-gateway",
];

/// What an adapter may not depend on: the crates below the service layer
/// that hold or move the switch's state.
const BELOW_THE_SERVICE: &[&str] = &["harambee-engine", "harambee-log", "harambee-read"];

/// The crates of the switch, each checked for module circles.
const SWITCH_CRATES: &[&str] = &[
    "harambee-core",
    "harambee-log",
    "harambee-engine",
    "harambee-read",
    "harambee-service",
    "harambee-grpc",
    "harambee-fspiop",
    "harambee-iso8583-gateway",
    "harambee-switch",
];

/// Crates that know no wire format: the engine appends and applies
/// commands whatever protocol brought them.
const WIRE_FREE: &[&str] = &["harambee-core", "harambee-log", "harambee-engine"];

/// The pure crates: no I/O, no clock, no async runtime, no wire format.
const PURE: &[&str] = &[
    "harambee-ledger",
    "harambee-settlement",
    "harambee-core",
    "harambee-iso8583",
];

/// What a pure crate may not depend on.
const IMPURE: &[&str] = &[
    "tokio",
    "async-trait",
    "futures",
    "sqlx",
    "rdkafka",
    "tonic",
    "prost",
    "reqwest",
    "rand",
    "metrics",
    "tracing",
    "harambee-proto",
    "harambee-log",
];

struct Dependency {
    name: String,
    kind: Option<String>,
    optional: bool,
}

struct Package {
    name: String,
    manifest_dir: PathBuf,
    dependencies: Vec<Dependency>,
    default_features: Vec<String>,
}

fn workspace() -> Vec<Package> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "cargo metadata: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("metadata is JSON");
    v["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .map(|p| Package {
            name: p["name"].as_str().expect("name").to_string(),
            manifest_dir: PathBuf::from(p["manifest_path"].as_str().expect("path"))
                .parent()
                .expect("a directory")
                .to_path_buf(),
            dependencies: p["dependencies"]
                .as_array()
                .expect("dependencies")
                .iter()
                .map(|d| Dependency {
                    name: d["name"].as_str().expect("name").to_string(),
                    kind: d["kind"].as_str().map(str::to_string),
                    optional: d["optional"].as_bool().unwrap_or(false),
                })
                .collect(),
            default_features: p["features"]["default"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|f| f.as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default(),
        })
        .collect()
}

fn layer(name: &str) -> Option<u32> {
    LAYERS.iter().find(|(n, _)| *n == name).map(|(_, l)| *l)
}

#[test]
fn crates_depend_downward_only() {
    let packages = workspace();
    for p in &packages {
        let own = layer(&p.name)
            .unwrap_or_else(|| panic!("{} has no layer in LAYERS: give it one", p.name));
        for d in &p.dependencies {
            let Some(theirs) = layer(&d.name) else {
                continue; // not a workspace crate
            };
            if d.kind.as_deref() == Some("dev") {
                continue; // tests may use anything
            }
            // The one exception: the switch's demo runs simulated
            // participants, behind a feature production builds leave out.
            if p.name == "harambee-switch" && d.name == "harambee-sim" {
                assert!(d.optional, "the simulator is optional for the switch");
                continue;
            }
            assert!(
                theirs < own,
                "{} (layer {own}) depends on {} (layer {theirs}): dependencies point down",
                p.name,
                d.name
            );
        }
    }
    assert!(packages.len() >= LAYERS.len(), "every crate is checked");
}

#[test]
fn pure_crates_depend_on_no_runtime_database_network_or_wire_format() {
    for p in workspace()
        .iter()
        .filter(|p| PURE.contains(&p.name.as_str()))
    {
        for d in &p.dependencies {
            if d.kind.as_deref() == Some("dev") {
                continue;
            }
            assert!(
                !IMPURE.contains(&d.name.as_str()),
                "{} is pure but depends on {}",
                p.name,
                d.name
            );
        }
    }
}

#[test]
fn the_engine_and_the_log_know_no_wire_format() {
    for p in workspace()
        .iter()
        .filter(|p| WIRE_FREE.contains(&p.name.as_str()))
    {
        for d in p
            .dependencies
            .iter()
            .filter(|d| d.kind.as_deref() != Some("dev"))
        {
            assert!(
                !["harambee-proto", "tonic", "prost"].contains(&d.name.as_str()),
                "{} depends on {}: errors and records cross it as domain types",
                p.name,
                d.name
            );
        }
    }
}

#[test]
fn adapters_reach_only_the_service_layer() {
    let packages = workspace();
    for name in ADAPTERS {
        let p = packages
            .iter()
            .find(|p| p.name == *name)
            .unwrap_or_else(|| panic!("the adapter {name}"));
        assert!(
            p.dependencies.iter().any(|d| d.name == "harambee-service"),
            "{name} is built on the service layer"
        );
        for d in p.dependencies.iter().filter(|d| d.kind.is_none()) {
            assert!(
                !BELOW_THE_SERVICE.contains(&d.name.as_str()),
                "{name} depends on {}: an adapter reaches the switch through the service layer only",
                d.name
            );
        }
    }
}

#[test]
fn the_service_layer_links_no_transport() {
    let packages = workspace();
    let service = packages
        .iter()
        .find(|p| p.name == "harambee-service")
        .expect("the service layer");
    for d in service.dependencies.iter().filter(|d| d.kind.is_none()) {
        assert!(
            ![
                "tonic",
                "tonic-health",
                "tonic-reflection",
                "hyper",
                "axum",
                "reqwest"
            ]
            .contains(&d.name.as_str()),
            "the service layer depends on {}: transports belong to the adapters",
            d.name
        );
    }
}

#[test]
fn a_production_build_of_harambee_leaves_the_simulator_out() {
    let packages = workspace();
    let switch = packages
        .iter()
        .find(|p| p.name == "harambee-switch")
        .expect("the switch");
    assert!(
        !switch.default_features.iter().any(|f| f == "demo"),
        "the demo is not a default feature"
    );
    let sim = switch
        .dependencies
        .iter()
        .find(|d| d.name == "harambee-sim" && d.kind.is_none())
        .expect("the demo's dependency");
    assert!(sim.optional);
}

/// The top-level modules of a crate and the sibling modules each refers
/// to (`crate::<module>`), from its sources.
fn module_graph(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    fn files(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir)
            .expect("a source directory")
            .flatten()
        {
            let path = entry.path();
            if path.is_dir() {
                files(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let mut all = Vec::new();
    files(src, &mut all);
    let module_of = |path: &Path| -> Option<String> {
        let rel = path.strip_prefix(src).ok()?;
        let first = rel.components().next()?.as_os_str().to_str()?.to_string();
        let name = first.trim_end_matches(".rs").to_string();
        (name != "lib" && name != "main").then_some(name)
    };
    let modules: BTreeSet<String> = all.iter().filter_map(|p| module_of(p)).collect();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for path in &all {
        let Some(from) = module_of(path) else {
            continue;
        };
        // Code only: a comment may name any module.
        let text: String = std::fs::read_to_string(path)
            .expect("a source file")
            .lines()
            .filter(|l| !l.trim_start().starts_with("//"))
            .collect::<Vec<_>>()
            .join("\n");
        let entry = graph.entry(from.clone()).or_default();
        for (i, _) in text.match_indices("crate::") {
            let rest = &text[i + "crate::".len()..];
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if name != from && modules.contains(&name) {
                entry.insert(name);
            }
        }
    }
    graph
}

/// A module circle, if the graph has one.
fn circle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(start) = path.iter().position(|n| n == node) {
            let mut found = path[start..].to_vec();
            found.push(node.to_string());
            return Some(found);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_string());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(found) = visit(next, graph, path, done) {
                return Some(found);
            }
        }
        path.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|n| visit(n, graph, &mut Vec::new(), &mut done))
}

#[test]
fn the_split_crates_have_no_module_circles() {
    let packages = workspace();
    for name in SWITCH_CRATES {
        let p = packages
            .iter()
            .find(|p| p.name == *name)
            .expect("the crate");
        let graph = module_graph(&p.manifest_dir.join("src"));
        assert!(graph.len() >= 2, "{name}: its modules are read ({graph:?})");
        assert_eq!(circle(&graph), None, "{name} has a module circle");
    }
}

#[test]
fn the_circle_finder_finds_circles() {
    let graph: BTreeMap<String, BTreeSet<String>> = [
        ("a", vec!["b"]),
        ("b", vec!["c"]),
        ("c", vec!["a"]),
        ("d", vec![]),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.into_iter().map(String::from).collect()))
    .collect();
    assert_eq!(
        circle(&graph),
        Some(vec!["a".into(), "b".into(), "c".into(), "a".into()])
    );
    let acyclic: BTreeMap<String, BTreeSet<String>> = [("a", vec!["b"]), ("b", vec![])]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.into_iter().map(String::from).collect()))
        .collect();
    assert_eq!(circle(&acyclic), None);
}
