//! The `jumpnet-operator` binary's offline subcommands, run as a user would.

use std::process::Command;

fn operator() -> Command {
    Command::new(env!("CARGO_BIN_EXE_jumpnet-operator"))
}

#[test]
fn committed_crd_yaml_equals_the_crd_subcommand_output() {
    let out = operator().arg("crd").output().unwrap();
    assert!(out.status.success());
    let printed = String::from_utf8(out.stdout).unwrap();
    let committed = include_str!("../../deploy/crd.yaml");
    assert!(
        printed == committed,
        "deploy/crd.yaml is stale: run `cargo run -p jumpnet-operator -- crd > deploy/crd.yaml`"
    );
}

#[test]
fn render_prints_the_owned_objects_of_a_cluster_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cluster.yaml");
    std::fs::write(
        &path,
        "apiVersion: jumpnet.io/v1alpha1\nkind: JumpnetCluster\nmetadata: {name: demo}\nspec: {replicas: 3}\n",
    )
    .unwrap();
    let out = operator()
        .args(["render", "-f"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    for needle in [
        "kind: StatefulSet",
        "name: demo-headless",
        "kind: PodDisruptionBudget",
        "name: demo-config",
        "- --managed",
        "namespace: default",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in\n{text}");
    }
}

#[test]
fn render_of_an_invalid_cluster_exits_64_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.yaml");
    std::fs::write(
        &path,
        "apiVersion: jumpnet.io/v1alpha1\nkind: JumpnetCluster\nmetadata: {name: demo}\nspec: {replicas: 0}\n",
    )
    .unwrap();
    let out = operator()
        .args(["render", "-f"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64));
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("spec.replicas"), "{err}");
}

#[test]
fn a_bad_flag_exits_64_with_one_line() {
    let out = operator()
        .args(["run", "--metrics-addr", "nowhere"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64));
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("--metrics-addr"), "{err}");
}

#[test]
fn help_exits_zero() {
    let out = operator().arg("--help").output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8(out.stdout).unwrap().contains("render"));
}
