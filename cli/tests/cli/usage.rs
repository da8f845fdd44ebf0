//! Usage and IO errors: exit 2.

use crate::common::*;

#[test]
fn missing_file_exits_2() {
    let dir = TempDir::new("missing");
    let o = check(&dir.path().join("does-not-exist.arch"));
    assert_usage_error(&o);
    assert!(stderr(&o).contains("does-not-exist.arch"), "{}", stderr(&o));
    // IO errors win over diagnostics in the exit code, and the other files are still checked.
    let bad = dir.file("bad.arch", "param a = 1 / 0\n");
    let o = archc([
        Path::new("check"),
        &bad,
        &dir.path().join("does-not-exist.arch"),
    ]);
    assert_usage_error(&o);
    assert!(
        codes(&stderr(&o)).contains(&"A0202".to_string()),
        "{}",
        stderr(&o)
    );
}

#[test]
fn directory_exits_2() {
    let dir = TempDir::new("dir");
    assert_usage_error(&check(dir.path()));
    assert_usage_error(&archc([Path::new("fmt"), dir.path()]));
}

#[test]
fn unknown_explain_code_exits_2() {
    // (Lower case is accepted on purpose: `archc explain a0701` is A0701's page.)
    for code in ["A9999", "B0001", "", "A07011", "A0701x", "A0000"] {
        let o = archc(["explain", code]);
        assert_usage_error(&o);
        assert!(o.stdout.is_empty(), "`explain {code}` printed to stdout");
    }
}

#[test]
fn no_files_is_a_usage_error() {
    let o = archc(["check"]);
    assert_usage_error(&o);
}
