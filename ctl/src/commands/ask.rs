//! `codexctl ask`: send a prompt (arguments, piped stdin, or both) and stream the answer.
//!
//! Which conversation a plain `ask` continues: the current conversation of this terminal in
//! this directory. The terminal is the tty of stdin/stdout/stderr (the first that is one),
//! else the parent process (your shell); `CODEXD_SCOPE` overrides the whole key. `--new`
//! starts a fresh conversation that becomes the current one; `--session NAME` uses (or
//! creates) a named conversation from anywhere.
//!
//! Output: text deltas go to stdout as they arrive. On a terminal, a spinner runs on stderr
//! until the first token and the answer is rendered as Markdown block by block, with control
//! characters and escape sequences stripped first (`codexd_proto::text`, also with `--raw`);
//! piped, the raw text is written unchanged. `--json` prints one JSON object per line for every event.

mod markdown;

use std::io::{IsTerminal as _, Read as _, Write as _};

use anyhow::Context as _;
use codexd_proto::conversation::{
    AskEvent, AskMode, AskOutcome, AskRequest, Effort, SessionSelector, TokenUsage,
};
use codexd_proto::text::{ControlStripper, strip_controls};
use codexd_proto::{ErrorCode, Event, Reply, Request, WireError};
use serde_json::json;

use super::Ctx;
use crate::client::unexpected;
use crate::render;
use crate::values::{EFFORT_HINTS, Hinted};
use clap::Args;
use clap::builder::TypedValueParser;

/// `ask`
#[derive(Args, Debug)]
pub struct AskArgs {
    /// The prompt (stdin, when piped, is added as context).
    pub prompt: Vec<String>,
    /// Use (or create) the named conversation.
    #[arg(long, short = 's')]
    pub session: Option<String>,
    /// Start a fresh conversation.
    #[arg(long, short = 'n')]
    pub new: bool,
    /// Model to use.
    #[arg(long, short = 'm')]
    pub model: Option<String>,
    /// Reasoning effort: any level the model lists (`codexctl models`), e.g. low, medium,
    /// high, xhigh, max, ultra; a known level it lacks is clamped, with a notice.
    #[arg(long, short = 'e', value_parser = Hinted(EFFORT_HINTS).try_map(|s| s.parse::<codexd_proto::conversation::Effort>()))]
    pub effort: Option<codexd_proto::conversation::Effort>,
    /// Verbosity: low, medium, high (default: the model's).
    #[arg(long, value_parser = clap::builder::PossibleValuesParser::new(["low", "medium", "high"]).try_map(|s| s.parse::<codexd_proto::conversation::Verbosity>()))]
    pub verbosity: Option<codexd_proto::conversation::Verbosity>,
    /// Extra instructions for this turn, from a file.
    #[arg(long, value_name = "FILE")]
    pub instructions_file: Option<std::path::PathBuf>,
    /// Show reasoning summaries on stderr.
    #[arg(long)]
    pub reasoning: bool,
    /// Show token usage after the answer.
    #[arg(long)]
    pub usage: bool,
    /// Print the raw text even on a terminal (no Markdown rendering).
    #[arg(long)]
    pub raw: bool,
}

/// Help text for the session rule (shown in `ask --help` via the module doc, and here).
pub const SESSION_RULE: &str = "A plain `ask` continues the current conversation of this terminal and directory \
(terminal = tty of stdin/stdout/stderr, else the parent shell's pid; CODEXD_SCOPE overrides). \
--new starts a fresh one, --session NAME picks a named one.";

fn bad_input(msg: impl Into<String>) -> anyhow::Error {
    WireError::new(ErrorCode::BadRequest, msg).into()
}

/// Run `ask`.
pub fn run(args: AskArgs, ctx: &Ctx) -> anyhow::Result<u8> {
    let req = build_request(&args)?;
    let mut client = ctx.connect()?;
    client.cancel_on_ctrl_c()?;
    let mut out = Output::new(&args, ctx.json);
    let reply = client.call(Request::Ask(req), &mut |ev| out.event(ev));
    out.stop_spinner();
    let outcome = match reply? {
        Reply::Answer(a) => a,
        other => return Err(unexpected(other)),
    };
    out.done(&outcome)?;
    Ok(crate::exit::OK)
}

/// Turn the command line (and stdin) into the request.
fn build_request(args: &AskArgs) -> anyhow::Result<AskRequest> {
    let prompt = args.prompt.join(" ");
    let stdin = std::io::stdin();
    let context = if stdin.is_terminal() {
        None
    } else {
        let mut s = String::new();
        stdin
            .lock()
            .read_to_string(&mut s)
            .context("cannot read the piped input (is it text?)")?;
        (!s.trim().is_empty()).then_some(s)
    };
    // An empty prompt is refused by the daemon, the one place that decides it.
    let effort = args.effort.clone();
    let verbosity = args.verbosity;
    let developer_instructions = args
        .instructions_file
        .as_ref()
        .map(|p| {
            std::fs::read_to_string(p).map_err(|e| {
                bad_input(format!(
                    "Cannot read the instructions file {}: {e}",
                    p.display()
                ))
            })
        })
        .transpose()?;
    let session = match (&args.session, args.new) {
        (name, true) => SessionSelector::New {
            scope: scope(),
            name: name.clone(),
        },
        (Some(name), false) => SessionSelector::Named(name.clone()),
        (None, false) => SessionSelector::Current { scope: scope() },
    };
    Ok(AskRequest {
        prompt,
        context,
        session,
        model: args.model.clone(),
        effort,
        verbosity,
        reasoning_summaries: args.reasoning,
        developer_instructions,
        mode: AskMode::Chat,
    })
}

/// The key of "this terminal in this directory" (see the module doc).
pub fn scope() -> String {
    if let Some(s) = std::env::var("CODEXD_SCOPE").ok().filter(|s| !s.is_empty()) {
        return s;
    }
    let cwd = std::env::current_dir()
        .map(|d| d.display().to_string())
        .unwrap_or_default();
    let terminal = [0, 1, 2]
        .into_iter()
        .find_map(tty_name)
        .unwrap_or_else(|| format!("ppid:{}", std::os::unix::process::parent_id()));
    format!("{terminal}|{cwd}")
}

/// The tty device behind a file descriptor, if it is one.
fn tty_name(fd: i32) -> Option<String> {
    let mut buf = [0u8; 256];
    // SAFETY: ttyname_r writes at most buf.len() bytes (NUL-terminated) into our buffer.
    #[allow(unsafe_code)]
    let rc = unsafe { libc::ttyname_r(fd, buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return None;
    }
    let end = buf.iter().position(|b| *b == 0)?;
    String::from_utf8(buf[..end].to_vec()).ok()
}

/// Where events go.
struct Output {
    json: bool,
    reasoning: bool,
    usage: bool,
    markdown: Option<markdown::MarkdownStream>,
    spinner: Option<indicatif::ProgressBar>,
    /// Last char written to stdout (to end with exactly one newline).
    last_out: Option<char>,
    /// Reasoning was printed and not yet closed with a newline.
    reasoning_open: bool,
    fancy_err: bool,
    /// On a terminal, the model's text is stripped of control characters and escape sequences
    /// (`codexd_proto::text`) so it cannot drive the terminal; piped output stays byte-exact.
    strip_out: Option<ControlStripper>,
    strip_err: Option<ControlStripper>,
}

impl Output {
    fn new(args: &AskArgs, json: bool) -> Self {
        let fancy_err = render::stderr_is_fancy();
        let markdown = (!json && !args.raw && std::io::stdout().is_terminal())
            .then(markdown::MarkdownStream::new);
        let spinner = (!json && fancy_err).then(|| {
            let pb = indicatif::ProgressBar::new_spinner();
            pb.set_message("asking…");
            pb.enable_steady_tick(std::time::Duration::from_millis(100));
            pb
        });
        Self {
            json,
            reasoning: args.reasoning,
            usage: args.usage,
            markdown,
            spinner,
            last_out: None,
            reasoning_open: false,
            fancy_err,
            strip_out: (!json && std::io::stdout().is_terminal()).then(ControlStripper::new),
            strip_err: (!json && std::io::stderr().is_terminal()).then(ControlStripper::new),
        }
    }

    fn stop_spinner(&mut self) {
        if let Some(pb) = self.spinner.take() {
            pb.finish_and_clear();
        }
    }

    fn line_json(&self, v: serde_json::Value) -> anyhow::Result<()> {
        let mut out = std::io::stdout().lock();
        writeln!(out, "{v}")?;
        out.flush()?;
        Ok(())
    }

    fn event(&mut self, ev: Event) -> anyhow::Result<()> {
        let Event::Ask(ev) = ev else {
            return Ok(());
        };
        if self.json {
            return self.line_json(match ev {
                AskEvent::Started {
                    session,
                    name,
                    model,
                    effort,
                } => json!({"event": "started", "session": session, "name": name, "model": model, "effort": effort.as_ref().map(Effort::as_str)}),
                AskEvent::TextDelta(d) => json!({"event": "text", "delta": d}),
                AskEvent::ReasoningDelta(d) => json!({"event": "reasoning", "delta": d}),
                AskEvent::Notice(m) => json!({"event": "notice", "message": m}),
            });
        }
        match ev {
            AskEvent::Started { .. } => {}
            AskEvent::Notice(m) => {
                let line = format!("codexctl: {m}");
                match &self.spinner {
                    Some(pb) => pb.println(line),
                    None => eprintln!("{line}"),
                }
            }
            AskEvent::ReasoningDelta(d) => {
                if self.reasoning {
                    self.stop_spinner();
                    let d = match &mut self.strip_err {
                        Some(st) => st.push(&d),
                        None => d,
                    };
                    let mut err = std::io::stderr().lock();
                    if self.fancy_err {
                        write!(err, "\x1b[2m{d}\x1b[0m")?;
                    } else {
                        write!(err, "{d}")?;
                    }
                    err.flush()?;
                    self.reasoning_open = true;
                }
            }
            AskEvent::TextDelta(d) => {
                self.stop_spinner();
                if self.reasoning_open {
                    eprintln!("\n");
                    self.reasoning_open = false;
                }
                let d = match &mut self.strip_out {
                    Some(st) => st.push(&d),
                    None => d,
                };
                let mut out = std::io::stdout().lock();
                match &mut self.markdown {
                    Some(md) => md.push(&d, &mut out)?,
                    None => {
                        out.write_all(d.as_bytes())?;
                        out.flush()?;
                    }
                }
                if let Some(c) = d.chars().last() {
                    self.last_out = Some(c);
                }
            }
        }
        Ok(())
    }

    fn done(&mut self, outcome: &AskOutcome) -> anyhow::Result<()> {
        if self.json {
            return self.line_json(json!({
                "event": "done",
                "session": outcome.session,
                "text": outcome.text,
                "usage": outcome.usage.map(usage_json),
                "limits": outcome.limits,
            }));
        }
        if self.reasoning_open {
            eprintln!();
        }
        let mut out = std::io::stdout().lock();
        if let Some(md) = &mut self.markdown {
            md.finish(&mut out)?;
            writeln!(out)?;
        } else if self.last_out.is_none() && !outcome.text.is_empty() {
            // No deltas streamed (a fixture-shaped answer): print the final text.
            let text = match self.strip_out {
                Some(_) => strip_controls(&outcome.text),
                None => outcome.text.clone(),
            };
            write!(out, "{text}")?;
            if !text.ends_with('\n') {
                writeln!(out)?;
            }
        } else if self.last_out != Some('\n') {
            writeln!(out)?;
        }
        out.flush()?;
        if self.usage
            && let Some(u) = outcome.usage
        {
            eprintln!("{}", usage_text(&u));
        }
        Ok(())
    }
}

fn usage_json(u: TokenUsage) -> serde_json::Value {
    json!({
        "input": u.input,
        "cached_input": u.cached_input,
        "output": u.output,
        "reasoning_output": u.reasoning_output,
        "total": u.total,
    })
}

/// "tokens: 1200 in (800 cached), 150 out (40 reasoning), 1350 total"
pub fn usage_text(u: &TokenUsage) -> String {
    format!(
        "tokens: {} in ({} cached), {} out ({} reasoning), {} total",
        u.input, u.cached_input, u.output, u.reasoning_output, u.total
    )
}
