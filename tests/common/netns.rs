//! Network namespaces made by the tests (root only), removed when dropped.

use std::process::Command;

/// A uniquely named network namespace with `lo` up, deleted on drop.
pub struct Netns {
    pub name: String,
}

impl Netns {
    pub fn new(tag: &str) -> Netns {
        let name = format!("psT{}{tag}", std::process::id());
        ip(&["netns", "add", &name]);
        let netns = Netns { name };
        ip(&["-n", &netns.name, "link", "set", "lo", "up"]);
        netns
    }

    /// `ip netns exec NAME`
    pub fn prefix(&self) -> [&str; 4] {
        ["ip", "netns", "exec", &self.name]
    }

    /// Runs a shell command inside the namespace.
    pub fn sh(&self, script: &str) {
        let status = Command::new("ip")
            .args(["netns", "exec", &self.name, "sh", "-c", script])
            .status()
            .expect("run ip netns exec");
        assert!(status.success(), "in {}: {script}", self.name);
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

pub fn ip(args: &[&str]) {
    let output = Command::new("ip")
        .args(args)
        .output()
        .expect("run ip (iproute2)");
    assert!(
        output.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}
