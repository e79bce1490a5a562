//! `codexctl generate completions SHELL | man DIR`, from the clap definitions.

use std::io::Write as _;

use clap::Subcommand;

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

/// Run `generate` for `full`, the whole command line's definition.
pub fn run(cmd: GenerateCommand, full: clap::Command) -> anyhow::Result<u8> {
    match cmd {
        GenerateCommand::Completions { shell } => {
            let mut out = std::io::stdout().lock();
            let mut cmd = completion_command(&full);
            clap_complete::generate(shell, &mut cmd, "codexctl", &mut out);
            if shell == clap_complete::Shell::Fish {
                out.write_all(fish_positionals(&cmd).as_bytes())?;
            }
        }
        GenerateCommand::Man { dir } => {
            std::fs::create_dir_all(&dir)?;
            clap_mangen::generate_to(full, &dir)?;
        }
    }
    Ok(crate::exit::OK)
}

/// The command line as completions present it. clap_complete offers hidden subcommands and
/// arguments alike, so hidden subcommands are dropped here (only top-level ones exist), and the
/// global `--json` / `--no-autostart` are given to every subcommand except `shell-init`,
/// which refuses them.
fn completion_command(full: &clap::Command) -> clap::Command {
    let globals: Vec<clap::Arg> = full
        .get_arguments()
        .filter(|a| a.is_global_set())
        .map(|a| a.clone().global(false))
        .collect();
    let mut cmd = clap::Command::new("codexctl")
        .subcommand_required(full.is_subcommand_required_set())
        .arg_required_else_help(full.is_arg_required_else_help_set())
        .version(env!("CARGO_PKG_VERSION"));
    if let Some(a) = full.get_about() {
        cmd = cmd.about(a.clone());
    }
    for arg in full.get_arguments() {
        cmd = cmd.arg(arg.clone().global(false));
    }
    for sub in full.get_subcommands().filter(|s| !s.is_hide_set()) {
        cmd = cmd.subcommand(if sub.get_name() == "shell-init" {
            sub.clone()
        } else {
            with_globals(sub.clone(), &globals)
        });
    }
    cmd
}

/// `sub` and its subcommands, each with the global arguments.
fn with_globals(sub: clap::Command, globals: &[clap::Arg]) -> clap::Command {
    let names: Vec<String> = sub
        .get_subcommands()
        .map(|c| c.get_name().to_string())
        .collect();
    names
        .iter()
        .fold(sub, |s, n| {
            s.mut_subcommand(n, |c| with_globals(c, globals))
        })
        .args(globals.iter().cloned())
}

/// clap_complete's fish script completes no positional values (the bash and zsh ones do), so
/// `shell-init <TAB>` and `generate completions <TAB>` get their lines here.
fn fish_positionals(cmd: &clap::Command) -> String {
    let mut out = String::new();
    let mut walk = vec![(Vec::<String>::new(), cmd.clone())];
    while let Some((path, c)) = walk.pop() {
        for arg in c.get_positionals() {
            let values: Vec<String> = arg
                .get_possible_values()
                .iter()
                .filter(|v| !v.is_hide_set())
                .map(|v| v.get_name().to_string())
                .collect();
            if values.is_empty() || path.is_empty() {
                continue;
            }
            let mut cond = format!("__fish_codexctl_using_subcommand {}", path[0]);
            for p in &path[1..] {
                cond.push_str(&format!("; and __fish_seen_subcommand_from {p}"));
            }
            out.push_str(&format!(
                "complete -c codexctl -n \"{cond}\" -f -a \"{}\"\n",
                values.join(" ")
            ));
        }
        for sub in c.get_subcommands() {
            let mut p = path.clone();
            p.push(sub.get_name().to_string());
            walk.push((p, sub.clone()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory as _;

    fn completions(shell: clap_complete::Shell) -> String {
        let mut out = Vec::new();
        let mut cmd = completion_command(&crate::cli::Cli::command());
        clap_complete::generate(shell, &mut cmd, "codexctl", &mut out);
        let mut text = String::from_utf8(out).expect("utf-8");
        if shell == clap_complete::Shell::Fish {
            text.push_str(&fish_positionals(&cmd));
        }
        text
    }

    #[test]
    fn completions_offer_values_and_hide_what_is_hidden() {
        let fish = completions(clap_complete::Shell::Fish);
        for needle in [
            "bash zsh fish",
            "xhigh",
            r#"-a "on\t"#,
            "trace",
            "powershell",
            "-a \"shell-init\"",
        ] {
            assert!(fish.contains(needle), "{needle} missing:\n{fish}");
        }
        for hidden in ["-a \"suggest\"", "-a \"debug\""] {
            assert!(!fish.contains(hidden), "{hidden} offered:\n{fish}");
        }
        let init_lines: Vec<&str> = fish
            .lines()
            .filter(|l| l.contains("using_subcommand shell-init"))
            .collect();
        assert!(!init_lines.is_empty());
        assert!(
            init_lines
                .iter()
                .all(|l| !l.contains("-l json") && !l.contains("-l no-autostart")),
            "{init_lines:#?}"
        );
        let bash = completions(clap_complete::Shell::Bash);
        assert!(
            !bash.contains("codexctl__suggest"),
            "hidden command in bash"
        );
        let zsh = completions(clap_complete::Shell::Zsh);
        assert!(zsh.contains(r#"((bash\:"#), "shell names in zsh");
    }
}
