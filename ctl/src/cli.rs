//! The command line, as clap derive types. Shell completions and man pages are generated
//! from these same definitions.

use clap::{Args, Parser, Subcommand};

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
    /// Reasoning effort: minimal, low, medium, high, xhigh (clamped to what the model supports).
    #[arg(long, short = 'e')]
    pub effort: Option<String>,
    /// Verbosity: low, medium, high.
    #[arg(long)]
    pub verbosity: Option<String>,
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
    /// Revalidate the catalog now.
    #[arg(long)]
    pub refresh: bool,
}

/// `logs`
#[derive(Args, Debug)]
pub struct LogsArgs {
    /// Keep printing new lines.
    #[arg(long, short = 'f')]
    pub follow: bool,
    /// Minimum level: error, warn, info, debug, trace.
    #[arg(long)]
    pub level: Option<String>,
    /// Only lines since: unix seconds, or an age like 10m, 2h, 1d.
    #[arg(long)]
    pub since: Option<String>,
    /// How many recent lines.
    #[arg(long, short = 'n', default_value_t = 100)]
    pub lines: u32,
    /// Turn the opt-in request logs on or off (they hold prompts and answers).
    #[arg(long, value_name = "on|off")]
    pub requests: Option<String>,
}

/// `data`
#[derive(Subcommand, Debug)]
pub enum DataCommand {
    /// Every place codexd stores something, with sizes.
    List,
    /// Delete stored data (credentials only through `logout`).
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
Alt-k prints an explanation of the line above the prompt and leaves the line alone.
On an error, a timeout (CODEXD_SUGGEST_TIMEOUT, default 60 s) or Ctrl-C the line is restored.

Why Alt-i and Alt-k: both are unbound in the default emacs and vi-insert keymaps of bash,
zsh and fish and are not taken by fzf, atuin or oh-my-zsh. Alt-g is taken (bash
glob-complete-word, zsh get-line), Alt-e too (fish: edit in $EDITOR); Ctrl-L, Ctrl-R,
Up and Tab are never used. On macOS, let the terminal send Option as Meta (Terminal:
Profiles > Keyboard > Use Option as Meta key; iTerm2: Left Option key = Esc+).

Keys are written like alt-i, ctrl-x ctrl-s or M-i. --no-bind defines the widgets only
(bash/zsh: _codexd_suggest, _codexd_explain; fish: codexd_suggest, codexd_explain), for
example: bindkey '^[s' _codexd_suggest";

/// `shell-init`
#[derive(Args, Debug)]
pub struct ShellInitArgs {
    /// bash, zsh or fish.
    pub shell: String,
    /// Key for "suggest" (default Alt-i; also CODEXD_SHELL_KEY).
    #[arg(long, value_name = "KEY")]
    pub key: Option<String>,
    /// Key for "explain" (default Alt-k; also CODEXD_SHELL_EXPLAIN_KEY).
    #[arg(long, value_name = "KEY")]
    pub explain_key: Option<String>,
    /// Define the widgets only; bind no keys.
    #[arg(long)]
    pub no_bind: bool,
}

/// `suggest` (hidden; the shell widgets call it)
#[derive(Args, Debug)]
pub struct SuggestArgs {
    /// bash, zsh or fish.
    #[arg(long)]
    pub shell: String,
    /// Explain instead of suggest.
    #[arg(long)]
    pub explain: bool,
    /// Exit status of the previous command.
    #[arg(long)]
    pub last_status: Option<i32>,
    /// The command line (else stdin).
    pub line: Option<String>,
}

/// `generate`
#[derive(Subcommand, Debug)]
pub enum GenerateCommand {
    /// Shell completions.
    Completions {
        /// bash, zsh, fish, elvish or powershell.
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
}
