//! The side-by-side part: the upstream Codex CLI against the same fake backend, with a
//! ChatGPT-style `auth.json` in its own `CODEX_HOME`. Runs only when `CODEX_BIN` names the
//! CLI's binary; the bench never installs it.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::cases::{Bench, time_command};
use super::report::{Row, Target};
use super::stats::Summary;

/// The environment variable holding the Codex CLI binary's path.
pub const CODEX_BIN_VAR: &str = "CODEX_BIN";

/// Prompt used on both sides.
pub const PROMPT: &str = "say hi";

/// Run the side-by-side cases; `codexd` medians are passed in to compute ratios.
pub fn compare(bench: &Bench, ctl_status_ms: Option<f64>, ctl_ask_ms: Option<f64>) -> Vec<Row> {
    let Some(bin) = std::env::var_os(CODEX_BIN_VAR).map(PathBuf::from) else {
        return vec![Row::not_measured(
            "Codex CLI side by side",
            "—",
            "skipped: set CODEX_BIN to the codex binary (npm install @openai/codex)",
            Target::None,
        )];
    };
    let home = bench.env.root.path().join("codex-home");
    if let Err(e) = prepare_home(bench, &home) {
        return vec![Row::not_measured(
            "Codex CLI side by side",
            "—",
            &format!("cannot prepare CODEX_HOME: {e}"),
            Target::None,
        )];
    }
    let make = |args: &[&str]| {
        let mut cmd = Command::new(&bin);
        cmd.env_clear();
        for k in ["PATH", "LANG", "TERM", "USER", "LOGNAME"] {
            if let Ok(v) = std::env::var(k) {
                cmd.env(k, v);
            }
        }
        cmd.env("CODEX_HOME", &home)
            .env("HOME", bench.env.home())
            .current_dir(bench.env.root.path())
            .stdin(Stdio::null())
            .args(args);
        cmd
    };
    let it = bench.it;
    let mut rows = Vec::new();
    let runs = it.runs.clamp(3, 10);
    side(
        &mut rows,
        "codex login status",
        time_command(|| make(&["login", "status"]), 1, runs, None),
        ctl_status_ms,
        "codexctl status",
    );
    side(
        &mut rows,
        "codex exec",
        time_command(
            || make(&["exec", "--skip-git-repo-check", PROMPT]),
            1,
            runs,
            None,
        ),
        ctl_ask_ms,
        "codexctl ask",
    );
    rows
}

fn side(
    rows: &mut Vec<Row>,
    name: &str,
    result: Result<(Vec<f64>, Vec<f64>), String>,
    ours_ms: Option<f64>,
    ours_name: &str,
) {
    match result {
        Ok((walls, rss)) => {
            rows.push(Row::samples(
                &format!("{name}, wall"),
                "ms",
                &walls,
                Target::None,
                "upstream CLI",
            ));
            rows.push(Row::samples(
                &format!("{name}, peak RSS"),
                "MiB",
                &rss,
                Target::None,
                "upstream CLI",
            ));
            if let (Some(theirs), Some(ours)) = (Summary::of(&walls), ours_ms)
                && ours > 0.0
            {
                rows.push(Row::value(
                    &format!("{name} / {ours_name}, wall"),
                    "ratio",
                    theirs.median / ours,
                    Target::None,
                    "× slower than codexd",
                ));
            }
        }
        Err(e) => rows.push(Row::not_measured(name, "ms", &e, Target::None)),
    }
}

/// Write `config.toml` (provider pointing at the fake) and `auth.json` (fresh fake tokens).
fn prepare_home(bench: &Bench, home: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(home)?;
    let base = bench.stack.backend.base_url();
    let config = format!(
        r#"model_provider = "codexd_bench_fake"
chatgpt_base_url = "{base}/"
check_for_update_on_startup = false

[analytics]
enabled = false

[model_providers.codexd_bench_fake]
name = "codexd bench fake backend"
base_url = "{base}/codex"
wire_api = "responses"
requires_openai_auth = true
supports_websockets = false
"#
    );
    std::fs::write(home.join("config.toml"), config)?;
    let auth = bench.stack.auth.mint_login().auth_json();
    std::fs::write(home.join("auth.json"), auth.to_string())?;
    Ok(())
}
