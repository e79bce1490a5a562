//! Streaming Markdown for a terminal: text arrives in small deltas, but Markdown can only be
//! rendered once a block is complete. So complete blocks — a paragraph ended by a blank line,
//! a whole fenced code block, a list item line — are rendered with `termimad` as soon as they
//! are whole, and the rest waits. Code fences are tracked so a blank line inside code does not
//! split it.

use std::io::Write;

/// Buffers deltas and prints rendered blocks.
pub struct MarkdownStream {
    skin: termimad::MadSkin,
    /// Text not yet forming a complete line.
    partial: String,
    /// Complete lines of the block being built.
    block: Vec<String>,
    in_fence: bool,
}

impl MarkdownStream {
    /// A renderer with termimad's default skin for the terminal's background.
    pub fn new() -> Self {
        Self {
            skin: termimad::MadSkin::default(),
            partial: String::new(),
            block: Vec::new(),
            in_fence: false,
        }
    }

    /// Feed a delta; prints whatever became renderable.
    pub fn push(&mut self, delta: &str, out: &mut impl Write) -> std::io::Result<()> {
        self.partial.push_str(delta);
        while let Some(nl) = self.partial.find('\n') {
            let line: String = self.partial.drain(..=nl).collect();
            let line = line.trim_end_matches(['\n', '\r']).to_owned();
            self.line(line, out)?;
        }
        Ok(())
    }

    fn line(&mut self, line: String, out: &mut impl Write) -> std::io::Result<()> {
        let fence = line.trim_start().starts_with("```") || line.trim_start().starts_with("~~~");
        if self.in_fence {
            self.block.push(line);
            if fence {
                self.in_fence = false;
                self.flush_block(out)?;
            }
            return Ok(());
        }
        if fence {
            // A code block starts: what came before is its own block.
            self.flush_block(out)?;
            self.in_fence = true;
            self.block.push(line);
            return Ok(());
        }
        if line.trim().is_empty() {
            self.flush_block(out)?;
            writeln!(out)?;
            return Ok(());
        }
        // List items and headings are complete on their own line.
        let t = line.trim_start();
        let standalone = t.starts_with('#')
            || t.starts_with("- ")
            || t.starts_with("* ")
            || t.starts_with("> ")
            || t.split_once(". ")
                .is_some_and(|(n, _)| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()));
        self.block.push(line);
        if standalone {
            self.flush_block(out)?;
        }
        Ok(())
    }

    fn flush_block(&mut self, out: &mut impl Write) -> std::io::Result<()> {
        if self.block.is_empty() {
            return Ok(());
        }
        let text = self.block.join("\n");
        self.block.clear();
        write!(out, "{}", self.skin.term_text(&text))?;
        out.flush()
    }

    /// Render everything left (end of the answer).
    pub fn finish(&mut self, out: &mut impl Write) -> std::io::Result<()> {
        if !self.partial.is_empty() {
            let rest = std::mem::take(&mut self.partial);
            self.block.push(rest);
        }
        self.flush_block(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_blocks_as_they_complete() {
        let mut md = MarkdownStream::new();
        let mut out = Vec::new();
        md.push("Hello **wor", &mut out).expect("write");
        assert!(out.is_empty(), "an unfinished line waits");
        md.push("ld**\n\n```rust\nfn main() {}\n\nlet x", &mut out)
            .expect("write");
        let shown = String::from_utf8_lossy(&out).to_string();
        assert!(shown.contains("world") && !shown.contains("**"), "{shown}");
        assert!(
            !shown.contains("fn main"),
            "code waits for its closing fence"
        );
        md.push(" = 1;\n```\n- item", &mut out).expect("write");
        assert!(String::from_utf8_lossy(&out).contains("fn main"));
        md.finish(&mut out).expect("write");
        assert!(String::from_utf8_lossy(&out).contains("item"));
    }
}
