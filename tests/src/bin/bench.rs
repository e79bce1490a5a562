//! The benchmark command: `cargo run --release -p codexd-tests --bin bench [--quick|--full]`.
//!
//! Starts the fakes in-process and a real `codexd` in temp dirs, runs each case after a
//! warm-up, prints a Markdown table of medians and spreads and writes the rows as JSON.
//! See BENCHMARKS.md for what each case measures and the targets.

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::Context as _;
use clap::Parser;
use codexd_tests::bench::cases::{Bench, Iterations};
use codexd_tests::bench::report::{Row, Target, table};
use codexd_tests::bench::{codex_cli, procfs};

/// Benchmark codexd against local fakes (and the Codex CLI when CODEX_BIN is set).
#[derive(Parser, Debug)]
struct Args {
    /// Fewer iterations (a smoke run, well under a minute).
    #[arg(long, conflicts_with = "full")]
    quick: bool,
    /// Everything the issue asks for: 10,000 sequential asks, 60 s of idle CPU.
    #[arg(long)]
    full: bool,
    /// Where to write the JSON results (default: target/bench/results.json).
    #[arg(long, value_name = "PATH")]
    json: Option<PathBuf>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let it = if args.quick {
        Iterations {
            warmup: 2,
            runs: 10,
            concurrent: 20,
            deltas: 1000,
            sequential: 200,
            idle_secs: 3,
        }
    } else if args.full {
        Iterations {
            warmup: 5,
            runs: 50,
            concurrent: 200,
            deltas: 1000,
            sequential: 10_000,
            idle_secs: 60,
        }
    } else {
        Iterations {
            warmup: 3,
            runs: 30,
            concurrent: 200,
            deltas: 1000,
            sequential: 1_000,
            idle_secs: 10,
        }
    };
    let profile = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    eprintln!("bench: building codexd and codexctl ({profile}) …");
    let bin_dir = codexd_tests::harness::bin_dir();
    if profile == "debug" {
        eprintln!("bench: WARNING: debug build; run with --release for meaningful numbers");
    }
    let machine = machine();
    eprintln!("bench: {machine}");

    let mut bench = Bench::new(it);
    let mut rows: Vec<Row> = Vec::new();
    let step = |name: &str, new: Vec<Row>, rows: &mut Vec<Row>| {
        eprintln!("bench: {name} done");
        rows.extend(new);
    };

    let status = bench.status();
    step("status", status, &mut rows);
    rows.push(bench.daemon_rss(
        "daemon RSS idle (signed out, after status calls)",
        Target::AtMost(15.0),
        "VmRSS",
    ));
    bench.sign_in();
    if let Err(why) = &bench.signed_in {
        eprintln!("bench: sign-in failed, ask cases will be skipped: {why}");
    }
    let ask = bench.ask_process();
    step("ask", ask, &mut rows);
    rows.push(bench.daemon_rss(
        "daemon RSS idle (signed in, after asks)",
        Target::AtMost(15.0),
        "VmRSS",
    ));
    let first = bench.first_token();
    step("first token", first, &mut rows);
    let suggest = bench.suggest();
    step("suggest", suggest, &mut rows);
    let sessions = bench.idle_sessions(100);
    step("100 sessions", sessions, &mut rows);
    let load = bench.concurrent();
    step("concurrent load", load, &mut rows);
    let seq = bench.sequential();
    step("sequential asks", seq, &mut rows);
    let idle = bench.idle_cpu();
    step("idle CPU", idle, &mut rows);
    let gw = codexd_tests::bench::gateway::ttfb(&bench);
    step("gateway TTFB", gw, &mut rows);
    let gw = codexd_tests::bench::gateway::concurrent_streams(&bench, 500);
    step("gateway 500 streams", gw, &mut rows);
    let gw = codexd_tests::bench::gateway::idle_rss(&bench);
    step("gateway idle RSS", gw, &mut rows);

    let median_of = |prefix: &str| {
        rows.iter()
            .find(|r| r.case.starts_with(prefix) && r.summary.is_some())
            .and_then(|r| r.value)
    };
    let (st, ask_ms) = (
        median_of("codexctl status, wall"),
        median_of("codexctl ask, short"),
    );
    let side = codex_cli::compare(&bench, st, ask_ms);
    step("Codex CLI side by side", side, &mut rows);

    let daemon = bench.daemon_pid().and_then(procfs::sample);
    drop(bench);

    let mut out = std::io::stdout().lock();
    writeln!(out, "\ncodexd bench ({profile}), {machine}\n")?;
    writeln!(out, "{}", table(&rows))?;

    let path = args.json.unwrap_or_else(|| {
        bin_dir
            .parent()
            .map_or_else(|| PathBuf::from("."), PathBuf::from)
            .join("bench/results.json")
    });
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let json = serde_json::json!({
        "profile": profile,
        "machine": machine,
        "iterations": format!("{it:?}"),
        "daemon_threads_at_end": daemon.map(|d| d.threads),
        "rows": rows,
    });
    std::fs::write(&path, serde_json::to_string_pretty(&json)?)
        .with_context(|| format!("writing {}", path.display()))?;
    writeln!(out, "JSON: {}", path.display())?;
    Ok(())
}

/// One line describing the machine: date, cores, memory, load, kernel.
fn machine() -> String {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mem_gib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
        })
        .map_or(0.0, |kib| kib / 1024.0 / 1024.0);
    let load = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_owned))
        .unwrap_or_default();
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|k| k.trim().to_owned())
        .unwrap_or_default();
    let date = std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    format!("{date}, {cores} cores, {mem_gib:.1} GiB RAM, load {load}, Linux {kernel}")
}
