//! codexd's own fallback instructions, used only when there is no override, no cached copy
//! and GitHub cannot be reached (or `instructions.source = "off"`). Written for this project;
//! deliberately short and labelled, and replaced as soon as GitHub answers.

/// The fallback text. It says what it is, so a surprising answer can be traced back to it.
pub const TEXT: &str = "\
[codexd fallback instructions: the model family's usual instructions could not be loaded.]

You are a careful software engineering assistant reached from a terminal through codexd.
- Answer the user's question directly and keep answers short unless asked for detail.
- When you give shell commands or code, make them correct, complete and safe to copy; warn
  before anything destructive.
- Say plainly when you are unsure or when information is missing, rather than guessing.
- Format answers as plain text or Markdown that reads well in a terminal.
";

#[cfg(test)]
mod tests {
    #[test]
    fn fallback_is_labelled() {
        assert!(super::TEXT.starts_with("[codexd fallback instructions"));
    }
}
