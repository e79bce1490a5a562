//! End-to-end tests of the LogActor and data controls: live log stream, slow subscribers,
//! request-log switch, `data list` and `data purge`.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use codexd_tests::harness::Env;

#[test]
fn logs_follow_streams_new_lines_live() {
    let env = Env::new();
    env.ctl(&["status"]).ok();
    let mut follower = env
        .ctl_cmd()
        .args(["logs", "-f", "--json", "-n", "0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = follower.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    // Give the follower time to subscribe, then make the daemon log something.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut seen = false;
    while Instant::now() < deadline && !seen {
        env.ctl(&["logs", "--requests", "on"]).ok();
        env.ctl(&["logs", "--requests", "off"]).ok();
        while let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) {
            let v: serde_json::Value = serde_json::from_str(&line).unwrap();
            if v["message"]
                .as_str()
                .unwrap_or_default()
                .contains("request logging is ON")
            {
                seen = true;
                break;
            }
        }
    }
    let _ = follower.kill();
    let _ = follower.wait();
    assert!(seen, "the live stream did not deliver the new line");
}

#[test]
fn a_stopped_subscriber_does_not_slow_the_daemon() {
    let env = Env::new();
    env.ctl(&["status"]).ok();
    let mut follower = env
        .ctl_cmd()
        .args(["logs", "-f"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    Command::new("kill")
        .args(["-STOP", &follower.id().to_string()])
        .status()
        .unwrap();
    let start = Instant::now();
    for _ in 0..100 {
        env.ctl(&["logs", "--requests", "on"]).ok();
    }
    let elapsed = start.elapsed();
    Command::new("kill")
        .args(["-KILL", &follower.id().to_string()])
        .status()
        .unwrap();
    let _ = follower.wait();
    // 100 requests while a subscriber never reads: generous bound, the point is "no hang".
    assert!(
        elapsed < Duration::from_secs(30),
        "requests took {elapsed:?}"
    );
    env.ctl(&["status"]).ok();
}

#[test]
fn recent_lines_filter_by_level_and_log_files_exist() {
    let env = Env::new();
    env.ctl(&["status"]).ok();
    env.ctl(&["logs", "--requests", "on"]).ok();
    let out = env.ctl(&["logs", "--level", "warn"]).ok().stdout;
    assert!(out.contains("request logging is ON"), "{out}");
    assert!(
        !out.contains("codexd ready"),
        "info lines must be filtered out: {out}"
    );
    let status = env.ctl(&["status"]).ok().stdout;
    assert!(status.contains("request logging is ON"), "{status}");
    let files: Vec<_> = std::fs::read_dir(env.log_dir())
        .unwrap()
        .flatten()
        .collect();
    assert!(
        files
            .iter()
            .any(|f| f.file_name().to_string_lossy().starts_with("codexd")),
        "{files:?}"
    );
}

#[test]
fn data_list_and_purge_delete_what_they_say_and_nothing_else() {
    let env = Env::new();
    env.ctl(&["status"]).ok();
    let list = env.ctl(&["data", "list", "--json"]).ok().json();
    let whats: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["what"].as_str().unwrap())
        .collect();
    for w in ["config", "sessions", "cache", "logs", "socket"] {
        assert!(whats.iter().any(|x| x.starts_with(w)), "{whats:?}");
    }
    // An old log file and a request log; a cache file that must survive a logs-only purge.
    let old = env.log_dir().join("codexd.2020-01-01.log");
    std::fs::write(&old, "old line\n").unwrap();
    std::fs::create_dir_all(env.paths().request_log_dir().join("day-1")).unwrap();
    std::fs::write(env.paths().request_log_dir().join("day-1/r.json"), "{}").unwrap();
    std::fs::create_dir_all(env.cache_dir()).unwrap();
    let keep = env.cache_dir().join("keep.txt");
    std::fs::write(&keep, "x").unwrap();

    let out = env.ctl(&["data", "purge", "--logs"]).ok();
    assert!(out.stdout.contains("logs"), "{out:?}");
    assert!(!old.exists());
    assert!(!env.paths().request_log_dir().exists());
    assert!(keep.exists(), "a logs purge must not touch the cache");
    // The daemon keeps logging into today's file.
    env.ctl(&["status"]).ok();

    let out = env.ctl(&["data", "purge"]);
    assert_eq!(
        out.code, 2,
        "purge without a kind is a usage error: {out:?}"
    );
}

#[test]
fn log_files_are_bounded_by_max_files() {
    let env = Env::new();
    env.write_config("[log]\nmax_files = 3\n");
    std::fs::create_dir_all(env.log_dir()).unwrap();
    for day in 1..=9 {
        std::fs::write(
            env.log_dir().join(format!("codexd.2020-01-0{day}.log")),
            "old\n",
        )
        .unwrap();
    }
    env.ctl(&["status"]).ok();
    let count = std::fs::read_dir(env.log_dir())
        .unwrap()
        .flatten()
        .filter(|e| {
            e.file_name().to_string_lossy().starts_with("codexd.")
                && e.file_name().to_string_lossy().ends_with(".log")
        })
        .count();
    assert!(count <= 3, "{count} log files kept with max_files = 3");
}
