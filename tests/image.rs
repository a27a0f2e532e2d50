//! gozt's image, run as the node agent's manifest says. The image is the
//! Containerfile's (a statically linked gozt FROM scratch, built by
//! scripts/image.sh, nothing pulled from a registry); the service runs in
//! podman containers (runc) from images of the workload at
//! /usr/local/bin/my-service. The test reads
//! examples/kubernetes/daemonset.yaml and turns its pod spec into podman's
//! flags, field by field (podman cannot play a DaemonSet, and ignored
//! hostPID when it played one as a Deployment): the manifest stays the one
//! source of truth. Through two containers of one image started before
//! gozt, one after, a rollout to an image of a rebuilt binary and a
//! container restart, a
//! real Prometheus scrapes gozt, and each container's payloads there match
//! the workload's truth exactly. Needs root and podman; with CI=true their
//! absence fails.

mod common;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use serde_json::Value;

/// Where the service's containers have it, as the manifest's --binary says.
const SERVICE: &str = "/usr/local/bin/my-service";

/// podman with this machine's runtime settings (hybrid cgroups: runc and
/// cgroupfs; no journald), `args` after.
fn podman(args: &[&str]) -> Command {
    let mut c = Command::new("podman");
    c.args([
        "--runtime",
        "runc",
        "--cgroup-manager",
        "cgroupfs",
        "--events-backend",
        "file",
    ])
    .args(args);
    c
}

/// Runs podman with `args`; its output, which must say success.
fn podman_ok(args: &[&str]) -> Output {
    let out = podman(args).output().expect("run podman");
    assert!(
        out.status.success(),
        "podman {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Flags every `podman run` here needs (runc refuses to raise limits it
/// was not given).
const LIMITS: [&str; 4] = [
    "--ulimit",
    "nofile=1024:1024",
    "--ulimit",
    "nproc=4096:4096",
];

/// Containers and images removed when the test ends, however it ends.
struct Cleanup {
    containers: Vec<String>,
    images: Vec<String>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        for c in &self.containers {
            let _ = podman(&["rm", "-f", "-t", "0", c]).output();
        }
        for i in &self.images {
            let _ = podman(&["rmi", "-f", i]).output();
        }
    }
}

/// gozt's image: `$GOZT_IMAGE` (scripts/test.sh builds it), else built now.
fn gozt_image() -> String {
    if let Some(tag) = std::env::var_os("GOZT_IMAGE") {
        return tag.to_string_lossy().into_owned();
    }
    let out = Command::new("bash")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/image.sh"))
        .output()
        .expect("run scripts/image.sh");
    assert!(
        out.status.success(),
        "scripts/image.sh: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    stdout.lines().last().expect("the image's name").to_string()
}

/// An image of the service: `bin` at SERVICE, FROM scratch.
fn service_image(bin: &Path, tag: &str, dir: &Path) {
    let ctx = dir.join(tag.replace([':', '/'], "-"));
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::copy(bin, ctx.join("my-service")).unwrap();
    std::fs::write(
        ctx.join("Containerfile"),
        // A /tmp (WORKDIR makes it), where the workload's downstream
        // scenario writes its file and its unix socket.
        format!(
            "FROM scratch\nWORKDIR /tmp\nCOPY my-service {SERVICE}\nENTRYPOINT [\"{SERVICE}\"]\n"
        ),
    )
    .unwrap();
    podman_ok(&["build", "--quiet", "-t", tag, ctx.to_str().unwrap()]);
}

/// The pod spec of the manifest as `podman run` flags, and gozt's args.
fn daemonset_flags(manifest: &Path) -> (Vec<String>, Vec<String>, String) {
    let text = std::fs::read_to_string(manifest).unwrap();
    let ds: serde_norway::Value = serde_norway::from_str(&text).unwrap();
    assert_eq!(ds["kind"].as_str(), Some("DaemonSet"));
    let spec = &ds["spec"]["template"]["spec"];
    let mut flags = Vec::new();
    if spec["hostPID"].as_bool() == Some(true) {
        flags.push("--pid=host".to_string());
    }
    // A pod's own network would need CNI here; the host's serves its port.
    flags.push("--network=host".to_string());
    let c = &spec["containers"][0];
    let sc = &c["securityContext"];
    assert_eq!(sc["privileged"].as_bool(), Some(false));
    if sc["seccompProfile"]["type"].as_str() == Some("Unconfined") {
        flags.push("--security-opt=seccomp=unconfined".to_string());
    }
    for cap in sc["capabilities"]["drop"].as_sequence().unwrap() {
        flags.push(format!("--cap-drop={}", cap.as_str().unwrap()));
    }
    for cap in sc["capabilities"]["add"].as_sequence().unwrap() {
        flags.push(format!("--cap-add={}", cap.as_str().unwrap()));
    }
    let volumes = spec["volumes"].as_sequence().unwrap();
    for m in c["volumeMounts"].as_sequence().unwrap() {
        let v = volumes
            .iter()
            .find(|v| v["name"] == m["name"])
            .expect("a volume for each mount");
        let ro = if m["readOnly"].as_bool() == Some(true) {
            ":ro"
        } else {
            ""
        };
        flags.push(format!(
            "--volume={}:{}{ro}",
            v["hostPath"]["path"].as_str().unwrap(),
            m["mountPath"].as_str().unwrap()
        ));
    }
    if let Some(mem) = c["resources"]["limits"]["memory"].as_str() {
        let mib = mem.strip_suffix("Mi").expect("a limit in Mi");
        flags.push(format!("--memory={mib}m"));
    }
    let args = c["args"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_string())
        .collect();
    let port = c["ports"][0]["containerPort"].as_u64().unwrap();
    (flags, args, format!("127.0.0.1:{port}"))
}

/// A service container from `image`, started held (the workload waits for
/// SIGUSR1); its podman client, with the workload's stdout.
fn service(name: &str, image: &str) -> Child {
    let mut args = vec!["run", "--name", name, "--network=host"];
    args.extend(LIMITS);
    args.extend([image, "-wait", "-goroutines", "2", "-rounds", "1"]);
    held(podman(&args))
}

/// Starts `cmd` (a container's attached podman client) and waits until the
/// workload in it says it waits.
fn held(mut cmd: Command) -> Child {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let line = common::first_line(child.stderr.as_mut().unwrap());
    assert!(line.contains("waiting"), "{line}");
    child
}

/// The host pid and full id of container `name`'s process.
fn inspect(name: &str) -> (u32, String) {
    let out = podman_ok(&["inspect", "-f", "{{.State.Pid}} {{.Id}}", name]);
    let text = String::from_utf8(out.stdout).unwrap();
    let (pid, id) = text.trim().split_once(' ').unwrap();
    (pid.parse().unwrap(), id.to_string())
}

/// Waits until gozt at `metrics` has the series of target `pid`, then lets
/// the held workload run; its truth.
fn release(mut client: Child, pid: u32, metrics: &str) -> Value {
    let label = format!("pid=\"{pid}\"");
    common::wait_for("gozt to see the container's process", || {
        common::http_get(metrics, "/metrics").is_some_and(|t| {
            t.lines()
                .any(|l| l.starts_with("gozt_target_info{") && l.contains(&label))
        })
    });
    common::signal(pid, libc::SIGUSR1);
    let mut truth = String::new();
    client
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut truth)
        .unwrap();
    assert!(client.wait().unwrap().success());
    serde_json::from_str(&truth).unwrap()
}

/// The payloads of a truth: its own rows' (inner calls are not exported).
fn payloads(truth: &Value) -> u64 {
    truth["goroutines"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["functions"].as_object().unwrap().values())
        .filter(|c| !c["outer"].is_string())
        .map(|c| c["payloads"].as_u64().unwrap())
        .sum()
}

#[test]
#[ignore = "needs root, BPF and podman: cargo test -- --include-ignored"]
fn the_image_runs_as_the_daemonset_says_through_a_rollout_and_a_restart() {
    common::require_privileged();
    let have_podman = Command::new("podman").arg("--version").output().is_ok();
    if !have_podman {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "podman is missing (scripts/test.sh installs it)"
        );
        eprintln!("skipped: no podman");
        return;
    }
    let tmp = common::TempDir::new("image");
    let image = gozt_image();
    let suffix = std::process::id();
    let (v1, v2) = (
        format!("localhost/gozt-test-svc:v1-{suffix}"),
        format!("localhost/gozt-test-svc:v2-{suffix}"),
    );
    let names = ["a", "b", "c", "d", "agent"].map(|n| format!("gozt-test-{n}-{suffix}"));
    let _cleanup = Cleanup {
        containers: names.to_vec(),
        images: vec![v1.clone(), v2.clone()],
    };
    let chains = common::toolchains();
    service_image(
        &chains[chains.len() - 2].join("workload-stripped"),
        &v1,
        &tmp.0,
    );
    let manifest: PathBuf =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/kubernetes/daemonset.yaml");
    let (flags, args, metrics) = daemonset_flags(&manifest);
    assert!(
        args.iter().any(|a| a == &format!("--binary={SERVICE}")),
        "{args:?}"
    );

    // A and B: two containers of one image started before gozt (the
    // kernel probes the file beneath both overlays: B's is not probed again).
    let a = service(&names[0], &v1);
    let (a_pid, a_id) = inspect(&names[0]);
    let b = service(&names[1], &v1);
    let (b_pid, b_id) = inspect(&names[1]);
    let mut run: Vec<String> = vec!["run".into(), "-d".into(), "--name".into(), names[4].clone()];
    run.extend(flags);
    run.extend(LIMITS.map(String::from));
    run.push(image.clone());
    run.extend(args);
    let run: Vec<&str> = run.iter().map(String::as_str).collect();
    podman_ok(&run);

    // Prometheus scrapes the agent every second.
    let prom = format!("127.0.0.1:{}", common::free_port());
    let config = tmp.join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: gozt\n    static_configs:\n      - targets: ['{metrics}']\n"
        ),
    )
    .unwrap();
    let _server = common::start_prometheus("prometheus", &config, &tmp.0, &prom);
    let mut truths: Vec<(String, Value)> = Vec::new();
    truths.push((a_id, release(a, a_pid, &metrics)));
    truths.push((b_id, release(b, b_pid, &metrics)));

    // D: the same image, started after gozt.
    let d = service(&names[3], &v1);
    let (d_pid, d_id) = inspect(&names[3]);
    truths.push((d_id, release(d, d_pid, &metrics)));

    // A rollout: an image of a rebuilt binary (another Go).
    service_image(&common::newest("workload-stripped"), &v2, &tmp.0);
    let c = service(&names[2], &v2);
    let (c_pid, c_id) = inspect(&names[2]);
    truths.push((c_id.clone(), release(c, c_pid, &metrics)));

    // C restarts: the same container runs its program again.
    let again = held(podman(&["start", "--attach", &names[2]]));
    let (again_pid, _) = inspect(&names[2]);
    assert_ne!(again_pid, c_pid);
    truths.push((c_id, release(again, again_pid, &metrics)));

    // Each container's payloads, as Prometheus has them, are the truth's.
    let mut want: std::collections::BTreeMap<String, u64> = Default::default();
    for (id, truth) in &truths {
        *want.entry(id.clone()).or_default() += payloads(truth);
    }
    for (id, n) in &want {
        assert!(*n > 0);
        let q = format!(
            "sum(gozt_payloads_total * on(pid) group_left(container_id) \
             gozt_target_info{{container_id=\"{id}\"}})"
        );
        common::wait_for(
            &format!("Prometheus to have container {id}'s payloads"),
            || common::query(&prom, &q) == Some(*n as f64),
        );
        eprintln!("container {}: {n} payloads, in Prometheus too", &id[..12]);
    }
    // The rollout's builds are told apart.
    let builds = common::http_get(&metrics, "/metrics").unwrap();
    // Each trap ran gozt's program once: copies of one image trap at the
    // probes of the file beneath their overlays, and gozt did not probe
    // them again (which would count every call as abandoned and unmatched
    // too).
    for l in builds
        .lines()
        .filter(|l| l.starts_with("gozt_lost_events_total"))
    {
        assert!(l.ends_with(" 0"), "{l}");
    }
    let ids: std::collections::BTreeSet<&str> = builds
        .lines()
        .filter(|l| l.starts_with("gozt_target_info{"))
        .filter_map(|l| l.split("build_id=\"").nth(1)?.split('"').next())
        .collect();
    assert_eq!(ids.len(), 2, "{builds}");
    let log = podman_ok(&["logs", &names[4]]);
    let said = String::from_utf8_lossy(&log.stderr);
    eprint!("{said}");
    assert!(said.contains(&format!("tracing {SERVICE} too")), "{said}");
    // A pod's end: SIGTERM ends it cleanly.
    podman_ok(&["kill", "--signal", "TERM", &names[4]]);
    let waited = podman_ok(&["wait", &names[4]]);
    assert_eq!(String::from_utf8_lossy(&waited.stdout).trim(), "0");
}
