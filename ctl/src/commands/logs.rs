//! `codexctl logs [-f] [--level L] [--since T] [--requests on|off]`.

use codexd_proto::logs::{LogLine, LogsRequest};
use codexd_proto::{Event, Reply, Request};

use super::Ctx;
use crate::client::unexpected;
use clap::Args;
use clap::builder::PossibleValuesParser;

/// `logs`
#[derive(Args, Debug)]
pub struct LogsArgs {
    /// Keep printing new lines.
    #[arg(long, short = 'f')]
    pub follow: bool,
    /// Minimum level: error, warn, info, debug, trace.
    #[arg(long, value_parser = PossibleValuesParser::new(["error", "warn", "info", "debug", "trace"]))]
    pub level: Option<String>,
    /// Only lines since: unix seconds, or an age like 10m, 2h, 1d.
    #[arg(long, value_parser = crate::commands::logs::parse_since)]
    pub since: Option<u64>,
    /// How many recent lines.
    #[arg(long, short = 'n', default_value_t = 100)]
    pub lines: u32,
    /// Turn the opt-in request logs on or off (they hold prompts and answers).
    #[arg(long, value_name = "on|off", value_parser = PossibleValuesParser::new(["on", "off"]))]
    pub requests: Option<String>,
}

/// Run `logs`.
pub fn run(args: LogsArgs, ctx: &Ctx) -> anyhow::Result<u8> {
    let mut client = ctx.connect()?;
    if let Some(state) = args.requests.as_deref() {
        let enabled = match state {
            "on" => true,
            "off" => false,
            _ => anyhow::bail!("--requests takes `on` or `off`"),
        };
        match client.call_simple(Request::SetRequestLogging { enabled })? {
            Reply::RequestLogging { enabled: true, dir } => eprintln!(
                "Request logging is ON: every prompt and answer is written to {dir}. Turn it off with `codexctl logs --requests off`."
            ),
            Reply::RequestLogging { enabled: false, .. } => eprintln!("Request logging is off."),
            other => return Err(unexpected(other)),
        }
        return Ok(crate::exit::OK);
    }
    let req = LogsRequest {
        follow: args.follow,
        level: args.level,
        since: args.since,
        lines: Some(args.lines),
    };
    if args.follow {
        client.cancel_on_ctrl_c()?;
    }
    let json = ctx.json;
    let mut out = std::io::stdout().lock();
    let reply = client.call(Request::Logs(req), &mut |ev| {
        use std::io::Write as _;
        match ev {
            Event::Log(line) if json => writeln!(out, "{}", serde_json::to_string(&line)?)?,
            Event::Log(line) => writeln!(out, "{}", format_line(&line))?,
            Event::LogsMissed(n) => {
                writeln!(out, "... {n} lines skipped (this terminal fell behind) ...")?
            }
            _ => {}
        }
        out.flush()?;
        Ok(())
    });
    match reply {
        Ok(_) => Ok(crate::exit::OK),
        Err(e) if crate::exit::for_error(&e) == crate::exit::CANCELLED => Ok(crate::exit::OK),
        Err(e) => Err(e),
    }
}

fn format_line(l: &LogLine) -> String {
    let secs = l.at_ms / 1000;
    format!(
        "{}:{:02}.{:03} {:>5} {}: {}",
        crate::render::clock(secs),
        secs % 60,
        l.at_ms % 1000,
        l.level.to_uppercase(),
        l.target,
        l.message
    )
}

/// `--since`: `1700000000` (unix seconds) or an age (`30s`, `10m`, `2h`, `1d`), turned into
/// unix seconds when the command line is parsed (a bad value is a usage error, exit 2).
pub fn parse_since(s: &str) -> Result<u64, String> {
    if let Ok(unix) = s.parse::<u64>() {
        return Ok(unix);
    }
    let bad = || format!("takes unix seconds or an age like 10m, 2h, 1d; got {s:?}");
    let (num, unit) = s.split_at(s.len().saturating_sub(1));
    let n: u64 = num.parse().map_err(|_| bad())?;
    let mult = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(bad()),
    };
    Ok(crate::render::now().saturating_sub(n.saturating_mul(mult)))
}
