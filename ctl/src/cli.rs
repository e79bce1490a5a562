//! The command line, as clap derive types. Shell completions and man pages are generated
//! from these same definitions.

use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
use clap::error::ErrorKind;
use clap::{Args, Parser, Subcommand, ValueEnum};

/// codexctl — talk to codexd: sign in with ChatGPT, ask Codex models, manage conversations.
#[derive(Parser, Debug)]
#[command(name = "codexctl", version, about, after_long_help = crate::exit::HELP)]
pub struct Cli {
    /// Print machine-readable JSON (one JSON document; `ask` prints one JSON line per event).
    #[arg(long, global = true)]
    pub json: bool,
    /// Never start the daemon; fail when it is not running (also CODEXD_NO_AUTOSTART=1).
    #[arg(long, global = true)]
    pub no_autostart: bool,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Sign in with ChatGPT (browser by default).
    Login(LoginArgs),
    /// Revoke the sign-in at OpenAI, then delete local credentials.
    Logout(LogoutArgs),
    /// Show the daemon, sign-in, instructions, sessions and usage state.
    Status,
    /// Ask a question; the answer streams to stdout.
    #[command(after_help = crate::commands::ask::SESSION_RULE)]
    Ask(AskArgs),
    /// List, show, remove or rename conversations.
    #[command(subcommand)]
    Sessions(SessionsCommand),
    /// Show the base instructions used for a model.
    Instructions(InstructionsArgs),
    /// List the models available to your plan.
    Models(ModelsArgs),
    /// Show recent log lines, or follow them live.
    Logs(LogsArgs),
    /// List or delete the data codexd keeps.
    #[command(subcommand)]
    Data(DataCommand),
    /// Start, stop or inspect the daemon.
    #[command(subcommand)]
    Daemon(DaemonCommand),
    /// Install the daemon as a systemd user service or launchd agent.
    #[command(subcommand)]
    Service(ServiceCommand),
    /// The OpenAI-compatible gateway for other tools: on, off, status, key, config.
    #[command(subcommand)]
    Gateway(crate::commands::gateway::GatewayCommand),
    /// Print the shell integration script: eval "$(codexctl shell-init bash)".
    #[command(after_long_help = SHELL_INIT_HELP)]
    ShellInit(ShellInitArgs),
    /// Suggest a command for a shell line (used by the shell integration).
    #[command(hide = true)]
    Suggest(SuggestArgs),
    /// Print shell completions or a man page.
    #[command(subcommand)]
    Generate(GenerateCommand),
    /// Send a test-only request (needs CODEXD_TEST_HOOKS=1 in the daemon).
    #[command(hide = true)]
    Debug(DebugArgs),
}

/// `login`
#[derive(Args, Debug)]
pub struct LoginArgs {
    /// Device-code sign-in, for SSH and headless machines.
    #[arg(long, conflicts_with_all = ["paste", "import_codex"])]
    pub device: bool,
    /// Print the URL and paste the final redirect URL back (no callback listener needed).
    #[arg(long, conflicts_with_all = ["device", "import_codex"])]
    pub paste: bool,
    /// Import an existing Codex CLI sign-in (default $CODEX_HOME/auth.json or ~/.codex/auth.json).
    #[arg(long, value_name = "PATH", num_args = 0..=1, default_missing_value = "")]
    pub import_codex: Option<String>,
    /// Never try to open a browser (the URL is printed either way).
    #[arg(long)]
    pub no_browser: bool,
}

/// `logout`
#[derive(Args, Debug)]
pub struct LogoutArgs {
    /// Delete local credentials without revoking them; they stay valid at OpenAI until they expire.
    #[arg(long)]
    pub local_only: bool,
}

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

/// `sessions`
#[derive(Subcommand, Debug)]
pub enum SessionsCommand {
    /// All conversations, most recent first.
    List,
    /// One conversation in full.
    Show {
        /// Name or id prefix.
        name: String,
    },
    /// Delete a conversation.
    Rm {
        /// Name or id prefix.
        name: String,
    },
    /// Rename a conversation.
    Rename {
        /// Current name or id prefix.
        from: String,
        /// New name.
        to: String,
    },
}

/// `instructions`
#[derive(Args, Debug)]
pub struct InstructionsArgs {
    /// Model (default: the configured one).
    #[arg(long, short = 'm')]
    pub model: Option<String>,
    /// Print the text itself.
    #[arg(long)]
    pub show: bool,
    /// Revalidate with GitHub now.
    #[arg(long)]
    pub refresh: bool,
}

/// `models`
#[derive(Args, Debug)]
pub struct ModelsArgs {
    /// Revalidate the catalogs now.
    #[arg(long)]
    pub refresh: bool,
    /// Also show hidden models and models your account is not offered.
    #[arg(long)]
    pub all: bool,
}

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

/// `data`
#[derive(Subcommand, Debug)]
pub enum DataCommand {
    /// Every place codexd stores something, with sizes.
    List,
    /// Delete stored data (credentials only through `logout`); say what.
    #[command(group(clap::ArgGroup::new("what").required(true).multiple(true).args(["logs", "cache", "sessions", "all"])))]
    Purge {
        /// Log files and request logs.
        #[arg(long)]
        logs: bool,
        /// Instruction and model caches.
        #[arg(long)]
        cache: bool,
        /// Stored conversations.
        #[arg(long)]
        sessions: bool,
        /// All of the above.
        #[arg(long)]
        all: bool,
    },
}

/// `daemon`
#[derive(Subcommand, Debug)]
pub enum DaemonCommand {
    /// Start the daemon in the background (no-op when running).
    Start,
    /// Stop the daemon.
    Stop,
    /// Stop, then start.
    Restart,
    /// Is it running? (exit 0 yes, 3 no)
    Status,
    /// Run the daemon in the foreground (execs codexd).
    Run,
}

/// `service`
#[derive(Subcommand, Debug)]
pub enum ServiceCommand {
    /// Write and enable the user service (systemd socket unit or launchd agent).
    Install {
        /// Show the files and commands without doing anything.
        #[arg(long)]
        dry_run: bool,
    },
    /// Disable and remove the user service.
    Uninstall {
        /// Show what would be done without doing anything.
        #[arg(long)]
        dry_run: bool,
    },
    /// Is the service installed and active?
    Status,
}

/// Extra `shell-init --help` text: how to load it, and why these default keys.
const SHELL_INIT_HELP: &str = "\
Load it from your shell's rc file (nothing is appended to any file for you):
  bash  ~/.bashrc                   eval \"$(codexctl shell-init bash)\"
  zsh   ~/.zshrc                    eval \"$(codexctl shell-init zsh)\"
  fish  ~/.config/fish/config.fish  codexctl shell-init fish | source

Type what you want at the prompt and press Alt-i: the line becomes one suggested command,
cursor at the end, never run. Press Alt-i again (or undo in zsh/fish) for your request back.
Alt-k prints an explanation below the line and leaves the line alone. Keys typed while
waiting are kept and land after the suggestion. On an error, a timeout
(CODEXD_SUGGEST_TIMEOUT, default 60 s) or Ctrl-C the line is restored. Control characters and
escape sequences are stripped from suggestions and explanations: they are shown inert.

Why Alt-i and Alt-k: both are unbound in the default emacs and vi-insert keymaps of bash,
zsh and fish and are not taken by fzf, atuin or oh-my-zsh. Alt-g is taken (bash
glob-complete-word, zsh get-line), Alt-e too (fish: edit in $EDITOR); Ctrl-L, Ctrl-R,
Up and Tab are never used. On macOS, let the terminal send Option as Meta (Terminal:
Profiles > Keyboard > Use Option as Meta key; iTerm2: Left Option key = Esc+).

In vi-insert keymaps Escape is a key of its own, and Alt-i is Escape then i: Esc then i typed
quickly would ask the model. So vi-insert gets keys that do not start with Escape: Ctrl-G
(suggest) and Ctrl-K (explain), or --vi-key / --vi-explain-key (CODEXD_SHELL_VI_KEY,
CODEXD_SHELL_VI_EXPLAIN_KEY); a --key that is not an Alt key is used there too.

Keys are written like alt-i, ctrl-x ctrl-g or M-i. Refused: keys the shell or terminal needs
(Enter, Tab, Ctrl-C/D/L/R/Z, flow control Ctrl-S/Ctrl-Q, Ctrl-\\, Ctrl-@, Escape) and Alt-[ /
Alt-O, which start arrow and function keys. --no-bind defines the widgets only
(bash/zsh: _codexd_suggest, _codexd_explain; fish: codexd_suggest, codexd_explain), for
example: bindkey '^[s' _codexd_suggest";

/// `shell-init`
#[derive(Args, Debug)]
pub struct ShellInitArgs {
    /// bash, zsh or fish (a path such as $SHELL works too).
    #[arg(value_parser = ShellParser)]
    pub shell: ShellName,
    /// Key for "suggest" (default Alt-i; also CODEXD_SHELL_KEY).
    #[arg(long, value_name = "KEY")]
    pub key: Option<String>,
    /// Key for "explain" (default Alt-k; also CODEXD_SHELL_EXPLAIN_KEY).
    #[arg(long, value_name = "KEY")]
    pub explain_key: Option<String>,
    /// Key for "suggest" in vi-insert mode, never an Alt key (default Ctrl-G; also
    /// CODEXD_SHELL_VI_KEY).
    #[arg(long, value_name = "KEY")]
    pub vi_key: Option<String>,
    /// Key for "explain" in vi-insert mode, never an Alt key (default Ctrl-K; also
    /// CODEXD_SHELL_VI_EXPLAIN_KEY).
    #[arg(long, value_name = "KEY")]
    pub vi_explain_key: Option<String>,
    /// Define the widgets only; bind no keys.
    #[arg(long)]
    pub no_bind: bool,
}

/// `suggest` (hidden; the shell widgets call it)
#[derive(Args, Debug)]
pub struct SuggestArgs {
    /// bash, zsh or fish.
    #[arg(long, value_parser = ShellParser)]
    pub shell: ShellName,
    /// Explain instead of suggest.
    #[arg(long)]
    pub explain: bool,
    /// Exit status of the previous command.
    #[arg(long)]
    pub last_status: Option<i32>,
    /// Print what was typed while waiting first, framed by two RS characters.
    #[arg(long)]
    pub typeahead: bool,
    /// Text to draw on the cursor's row while waiting (bash clears the row for a widget).
    #[arg(long, value_name = "TEXT")]
    pub redraw: Option<String>,
    /// The command line (else stdin).
    pub line: Option<String>,
}

/// `generate`
#[derive(Subcommand, Debug)]
pub enum GenerateCommand {
    /// Shell completions.
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Man pages into a directory.
    Man {
        /// Output directory.
        dir: std::path::PathBuf,
    },
}

/// `debug` (hidden)
#[derive(Args, Debug)]
pub struct DebugArgs {
    /// Make this actor panic: auth, instructions, sessions, log.
    #[arg(long)]
    pub panic: String,
    /// Panic inside the future an async handler returns, not in the handler itself.
    #[arg(long)]
    pub in_future: bool,
}

/// `--json` and `--no-autostart` are global, but `shell-init` only prints a script: it never
/// talks to the daemon and prints no JSON. Taking them silently would suggest they did
/// something, so they are a usage error there (exit 2, like any clap error).
pub fn refuse_idle_flags(cli: &Cli) {
    use clap::CommandFactory as _;
    if !matches!(cli.command, Command::ShellInit(_)) {
        return;
    }
    let given: Vec<&str> = [(cli.json, "--json"), (cli.no_autostart, "--no-autostart")]
        .into_iter()
        .filter_map(|(on, name)| on.then_some(name))
        .collect();
    if !given.is_empty() {
        Cli::command()
            .error(
                ErrorKind::ArgumentConflict,
                format!(
                    "shell-init does not take {}: it only prints a script (drop the flag)",
                    given.join(" or ")
                ),
            )
            .exit();
    }
}

/// The shells `shell-init` writes scripts for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ShellName {
    /// bash 4 or newer.
    Bash,
    /// zsh.
    Zsh,
    /// fish.
    Fish,
}

impl ShellName {
    /// The shell's name as its users write it.
    pub fn name(self) -> &'static str {
        match self {
            ShellName::Bash => "bash",
            ShellName::Zsh => "zsh",
            ShellName::Fish => "fish",
        }
    }
}

/// Parses a shell name or a path to one (`$SHELL` is often `/bin/zsh`); completions offer the
/// names. Anything else is a usage error (exit 2).
#[derive(Clone, Copy, Debug)]
pub struct ShellParser;

impl TypedValueParser for ShellParser {
    type Value = ShellName;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        _arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<ShellName, clap::Error> {
        let text = value.to_string_lossy();
        let base = text.rsplit('/').next().unwrap_or(&text);
        ShellName::from_str(base, true).map_err(|_| {
            clap::Error::raw(
                ErrorKind::InvalidValue,
                format!(
                    "no shell integration for {text:?}; supported shells are bash, zsh and fish\n"
                ),
            )
            .with_cmd(cmd)
        })
    }

    fn possible_values(&self) -> Option<Box<dyn Iterator<Item = PossibleValue> + '_>> {
        Some(Box::new(
            ShellName::value_variants()
                .iter()
                .filter_map(ValueEnum::to_possible_value),
        ))
    }
}

/// Reasoning efforts completions offer; any other token is accepted too (the daemon checks it
/// against the model catalog).
const EFFORT_HINTS: &[&str] = &["low", "medium", "high", "xhigh", "max", "ultra"];

/// An open-ended value: completions offer the hints, parsing accepts any non-empty token.
#[derive(Clone, Copy, Debug)]
pub struct Hinted(&'static [&'static str]);

impl TypedValueParser for Hinted {
    type Value = String;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<String, clap::Error> {
        match value.to_str().map(str::trim) {
            Some(v) if !v.is_empty() && !v.contains(char::is_whitespace) => Ok(v.to_string()),
            _ => Err(clap::Error::raw(
                ErrorKind::InvalidValue,
                format!(
                    "{} needs one word, for example {}\n",
                    arg.map_or_else(|| "the value".to_string(), ToString::to_string),
                    self.0.join(", ")
                ),
            )
            .with_cmd(cmd)),
        }
    }

    fn possible_values(&self) -> Option<Box<dyn Iterator<Item = PossibleValue> + '_>> {
        Some(Box::new(self.0.iter().map(|v| PossibleValue::new(*v))))
    }
}
