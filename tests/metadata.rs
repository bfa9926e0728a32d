//! action.yml and the workflows read the way GitHub reads them: with a YAML
//! parser, then checked against GitHub's rules for action metadata and
//! against what the binary actually reads and writes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_yaml::Value;

use common::action_world::{action, event, world};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn parse(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap();
    serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn keys(map: &Value) -> BTreeSet<String> {
    map.as_mapping()
        .unwrap_or_else(|| panic!("not a mapping: {map:?}"))
        .keys()
        .map(|k| k.as_str().unwrap().to_string())
        .collect()
}

/// The icons GitHub accepts for `branding.icon` (Feather icons, minus a few).
const ICONS: &[&str] = &[
    "activity",
    "airplay",
    "alert-circle",
    "alert-octagon",
    "alert-triangle",
    "align-center",
    "align-justify",
    "align-left",
    "align-right",
    "anchor",
    "aperture",
    "archive",
    "arrow-down-circle",
    "arrow-down-left",
    "arrow-down-right",
    "arrow-down",
    "arrow-left-circle",
    "arrow-left",
    "arrow-right-circle",
    "arrow-right",
    "arrow-up-circle",
    "arrow-up-left",
    "arrow-up-right",
    "arrow-up",
    "at-sign",
    "award",
    "bar-chart-2",
    "bar-chart",
    "battery-charging",
    "battery",
    "bell-off",
    "bell",
    "bluetooth",
    "bold",
    "book-open",
    "book",
    "bookmark",
    "box",
    "briefcase",
    "calendar",
    "camera-off",
    "camera",
    "cast",
    "check-circle",
    "check-square",
    "check",
    "chevron-down",
    "chevron-left",
    "chevron-right",
    "chevron-up",
    "chevrons-down",
    "chevrons-left",
    "chevrons-right",
    "chevrons-up",
    "circle",
    "clipboard",
    "clock",
    "cloud-drizzle",
    "cloud-lightning",
    "cloud-off",
    "cloud-rain",
    "cloud-snow",
    "cloud",
    "code",
    "command",
    "compass",
    "copy",
    "corner-down-left",
    "corner-down-right",
    "corner-left-down",
    "corner-left-up",
    "corner-right-down",
    "corner-right-up",
    "corner-up-left",
    "corner-up-right",
    "cpu",
    "credit-card",
    "crop",
    "crosshair",
    "database",
    "delete",
    "disc",
    "dollar-sign",
    "download-cloud",
    "download",
    "droplet",
    "edit-2",
    "edit-3",
    "edit",
    "external-link",
    "eye-off",
    "eye",
    "fast-forward",
    "feather",
    "file-minus",
    "file-plus",
    "file-text",
    "file",
    "film",
    "filter",
    "flag",
    "folder-minus",
    "folder-plus",
    "folder",
    "gift",
    "git-branch",
    "git-commit",
    "git-merge",
    "git-pull-request",
    "globe",
    "grid",
    "hard-drive",
    "hash",
    "headphones",
    "heart",
    "help-circle",
    "hexagon",
    "home",
    "image",
    "inbox",
    "info",
    "italic",
    "layers",
    "layout",
    "life-buoy",
    "link-2",
    "link",
    "list",
    "loader",
    "lock",
    "log-in",
    "log-out",
    "mail",
    "map-pin",
    "map",
    "maximize-2",
    "maximize",
    "menu",
    "message-circle",
    "message-square",
    "mic-off",
    "mic",
    "minimize-2",
    "minimize",
    "minus-circle",
    "minus-square",
    "minus",
    "monitor",
    "moon",
    "more-horizontal",
    "more-vertical",
    "move",
    "music",
    "navigation-2",
    "navigation",
    "octagon",
    "package",
    "paperclip",
    "pause-circle",
    "pause",
    "percent",
    "phone-call",
    "phone-forwarded",
    "phone-incoming",
    "phone-missed",
    "phone-off",
    "phone-outgoing",
    "phone",
    "pie-chart",
    "play-circle",
    "play",
    "plus-circle",
    "plus-square",
    "plus",
    "pocket",
    "power",
    "printer",
    "radio",
    "refresh-ccw",
    "refresh-cw",
    "repeat",
    "rewind",
    "rotate-ccw",
    "rotate-cw",
    "rss",
    "save",
    "scissors",
    "search",
    "send",
    "server",
    "settings",
    "share-2",
    "share",
    "shield-off",
    "shield",
    "shopping-bag",
    "shopping-cart",
    "shuffle",
    "sidebar",
    "skip-back",
    "skip-forward",
    "slash",
    "sliders",
    "smartphone",
    "speaker",
    "square",
    "star",
    "stop-circle",
    "sun",
    "sunrise",
    "sunset",
    "table",
    "tablet",
    "tag",
    "target",
    "terminal",
    "thermometer",
    "thumbs-down",
    "thumbs-up",
    "toggle-left",
    "toggle-right",
    "tool",
    "trash-2",
    "trash",
    "trending-down",
    "trending-up",
    "triangle",
    "truck",
    "tv",
    "type",
    "umbrella",
    "underline",
    "unlock",
    "upload-cloud",
    "upload",
    "user-check",
    "user-minus",
    "user-plus",
    "user-x",
    "user",
    "users",
    "video-off",
    "video",
    "voicemail",
    "volume-1",
    "volume-2",
    "volume-x",
    "volume",
    "watch",
    "wifi-off",
    "wifi",
    "wind",
    "x-circle",
    "x-octagon",
    "x-square",
    "x",
    "zap-off",
    "zap",
    "zoom-in",
    "zoom-out",
];
const COLORS: &[&str] = &[
    "white",
    "black",
    "yellow",
    "blue",
    "green",
    "orange",
    "red",
    "purple",
    "gray-dark",
];
const TOP_LEVEL: &[&str] = &[
    "name",
    "author",
    "description",
    "inputs",
    "outputs",
    "runs",
    "branding",
];

/// GitHub's rules for an action's metadata, as a list of what breaks them.
fn metadata_faults(yml: &Value) -> Vec<String> {
    let mut faults = Vec::new();
    let id = regex::Regex::new(r"^[_a-zA-Z][a-zA-Z0-9_-]*$").unwrap();
    for key in keys(yml) {
        if !TOP_LEVEL.contains(&key.as_str()) {
            faults.push(format!("unknown top-level key `{key}`"));
        }
    }
    for key in ["name", "description", "runs"] {
        if yml[key].is_null() {
            faults.push(format!("`{key}` is required"));
        }
    }
    for key in ["name", "description", "author"] {
        if !yml[key].is_null() && !yml[key].is_string() {
            faults.push(format!("`{key}` must be a string"));
        }
    }
    for section in ["inputs", "outputs"] {
        let Some(map) = yml[section].as_mapping() else {
            continue;
        };
        for (name, spec) in map {
            let name = name.as_str().unwrap_or_default();
            if !id.is_match(name) {
                faults.push(format!("{section}.{name}: not a valid id"));
            }
            if !spec["description"].is_string() {
                faults.push(format!("{section}.{name}: `description` must be a string"));
            }
            let allowed: &[&str] = if section == "inputs" {
                &["description", "required", "default", "deprecationMessage"]
            } else {
                &["description"]
            };
            for key in keys(spec) {
                if !allowed.contains(&key.as_str()) {
                    faults.push(format!("{section}.{name}: unknown key `{key}`"));
                }
            }
            if spec["required"].as_bool() == Some(true) && !spec["default"].is_null() {
                faults.push(format!("{section}.{name}: a required input has a default"));
            }
            if !spec["required"].is_null() && !spec["required"].is_bool() {
                faults.push(format!(
                    "{section}.{name}: `required` must be true or false"
                ));
            }
        }
    }
    let runs = &yml["runs"];
    if runs["using"].as_str() != Some("docker") {
        faults.push(format!("runs.using is {:?}, not docker", runs["using"]));
    }
    if !runs["image"].is_string() {
        faults.push("runs.image must be a string".into());
    }
    if !runs["args"].is_null()
        && !runs["args"]
            .as_sequence()
            .is_some_and(|s| s.iter().all(Value::is_string))
    {
        faults.push("runs.args must be a list of strings".into());
    }
    let branding = &yml["branding"];
    if !branding.is_null() {
        if let Some(icon) = branding["icon"].as_str() {
            if !ICONS.contains(&icon) {
                faults.push(format!("branding.icon `{icon}` is not one GitHub allows"));
            }
        }
        if let Some(color) = branding["color"].as_str() {
            if !COLORS.contains(&color) {
                faults.push(format!("branding.color `{color}` is not one GitHub allows"));
            }
        }
    }
    faults
}

#[test]
fn action_yml_meets_githubs_rules_for_action_metadata() {
    let yml = parse(&root().join("action.yml"));
    assert_eq!(metadata_faults(&yml), Vec::<String>::new());
    assert!(
        yml["runs"]["image"]
            .as_str()
            .unwrap()
            .starts_with("docker://"),
        "runs.image must name a published image, not a Dockerfile built per run"
    );
}

#[test]
fn the_rules_catch_what_github_refuses() {
    let bad: Value = serde_yaml::from_str(
        r#"
name: x
inputs:
  "1st":
    description: starts with a digit
  token:
    description: required with a default
    required: true
    default: abc
  flag:
    required: yes please
outputs:
  out:
    value: 1
runs:
  using: node20
  image: 3
branding:
  icon: rocket
  color: pink
"#,
    )
    .unwrap();
    assert_eq!(
        metadata_faults(&bad),
        [
            "`description` is required",
            "inputs.1st: not a valid id",
            "inputs.token: a required input has a default",
            "inputs.flag: `description` must be a string",
            "inputs.flag: `required` must be true or false",
            "outputs.out: `description` must be a string",
            "outputs.out: unknown key `value`",
            "runs.using is String(\"node20\"), not docker",
            "runs.image must be a string",
            "branding.icon `rocket` is not one GitHub allows",
            "branding.color `pink` is not one GitHub allows",
        ]
    );
}

#[test]
fn action_yml_declares_exactly_the_inputs_the_binary_reads() {
    let yml = parse(&root().join("action.yml"));
    let declared = keys(&yml["inputs"]);
    let read: BTreeSet<String> = deckhand::action::inputs::NAMES
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(declared, read);
}

#[test]
fn action_yml_declares_exactly_the_outputs_the_binary_writes() {
    let yml = parse(&root().join("action.yml"));
    let declared = keys(&yml["outputs"]);
    // A job that has nothing to do still writes every output.
    let w = world(vec![]);
    let ev = event(&w, "push/00-event.json", &[]);
    let run = action(&w, "push", &ev, 1, &[]);
    run.result.assert_code(0);
    let written: BTreeSet<String> = run.outputs.keys().cloned().collect();
    assert_eq!(declared, written);
    assert_eq!(run.outputs["status"], "skipped");
}

#[test]
fn runs_args_are_what_the_entrypoint_expects() {
    let yml = parse(&root().join("action.yml"));
    let args: Vec<&str> = yml["runs"]["args"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert_eq!(args, ["action"]);
    // The Dockerfile's entrypoint is the binary; `deckhand <args> --help`
    // must be a command it knows.
    let dockerfile = std::fs::read_to_string(root().join("Dockerfile")).unwrap();
    assert!(
        dockerfile
            .lines()
            .any(|l| l.trim() == r#"ENTRYPOINT ["/usr/local/bin/deckhand"]"#),
        "the Dockerfile's ENTRYPOINT is not the deckhand binary"
    );
    let mut cmd = common::deckhand_cmd(&[]);
    cmd.args(&args).arg("--help");
    common::output(cmd).assert_code(0);
}

#[test]
fn every_workflow_parses_and_uses_the_action_with_declared_inputs() {
    let yml = parse(&root().join("action.yml"));
    let inputs = keys(&yml["inputs"]);
    let dir = root().join(".github/workflows");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if !matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yml" | "yaml")
        ) {
            continue;
        }
        let wf = parse(&path);
        assert!(!wf["jobs"].is_null(), "{}: no jobs", path.display());
        // YAML 1.1 reads a bare `on` as a boolean; GitHub reads it as `on`.
        let on = wf.get("on").or_else(|| wf.get(Value::Bool(true)));
        assert!(on.is_some(), "{}: no `on`", path.display());
        for (job, spec) in wf["jobs"].as_mapping().unwrap() {
            let Some(steps) = spec["steps"].as_sequence() else {
                continue;
            };
            for step in steps {
                let uses = step["uses"].as_str().unwrap_or_default();
                if !uses.starts_with("deckhand-agent/deckhand") && uses != "./" {
                    continue;
                }
                seen += 1;
                if step["with"].is_null() {
                    continue;
                }
                for key in keys(&step["with"]) {
                    assert!(
                        inputs.contains(&key),
                        "{} job {:?}: `with: {key}` is not an input of action.yml",
                        path.display(),
                        job
                    );
                }
            }
        }
    }
    assert!(seen >= 5, "only {seen} steps use the action");
}

/// The README's `actions/cache` recipe for dev images, as YAML steps.
fn dev_image_recipe() -> Vec<Value> {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let (_, section) = readme
        .split_once("### Dev containers")
        .expect("README has a Dev containers section");
    let (_, block) = section
        .split_once("```yaml\n")
        .expect("the section has a YAML recipe");
    let (block, _) = block.split_once("```").unwrap();
    serde_yaml::from_str(block).unwrap_or_else(|e| panic!("README dev image recipe: {e}\n{block}"))
}

#[test]
fn the_readmes_dev_image_recipe_loads_before_and_saves_after_with_deckhands_tags() {
    let steps = dev_image_recipe();
    let position = |what: &str, pick: &dyn Fn(&Value) -> bool| {
        steps
            .iter()
            .position(pick)
            .unwrap_or_else(|| panic!("no {what} step in {steps:?}"))
    };
    let uses = |prefix: &'static str| {
        move |s: &Value| s["uses"].as_str().is_some_and(|u| u.starts_with(prefix))
    };
    let runs = |needle: &'static str| {
        move |s: &Value| s["run"].as_str().is_some_and(|r| r.contains(needle))
    };
    let checkout = position("checkout", &uses("actions/checkout@"));
    let cache = position("cache", &uses("actions/cache@"));
    let load = position("load", &runs("docker load"));
    let deckhand = position("deckhand", &uses("deckhand-agent/deckhand@"));
    let save = position("save", &runs("docker save"));
    assert!(checkout < cache && cache < load && load < deckhand && deckhand < save);
    for s in &steps {
        assert!(
            s["uses"].is_string() != s["run"].is_string(),
            "a step has `uses` or `run`: {s:?}"
        );
    }
    let path = steps[cache]["with"]["path"].as_str().unwrap();
    let key = steps[cache]["with"]["key"].as_str().unwrap();
    assert!(key.contains("hashFiles("), "{key}");
    let load_run = steps[load]["run"].as_str().unwrap();
    assert!(
        load_run.contains(&format!("docker load -i {path}")),
        "{load_run}"
    );
    // Saved even when the job fails, by the repository Deckhand tags in.
    assert_eq!(steps[save]["if"].as_str(), Some("always()"));
    let save_run = steps[save]["run"].as_str().unwrap();
    assert!(
        save_run.contains(&format!("docker save -o {path}")),
        "{save_run}"
    );
    assert!(
        save_run.contains(&format!("' {})", deckhand::sandbox::devimage::REPOSITORY)),
        "{save_run}"
    );
}
