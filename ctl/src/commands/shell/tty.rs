//! The terminal while `suggest` waits: a progress mark drawn on `/dev/tty` (never on stdout,
//! which the widget captures), Ctrl-C read as a byte (the tty's `isig` is off meanwhile, so the
//! shell itself never sees SIGINT and keeps its line), and what the user types meanwhile kept
//! as type-ahead for the widget to put back. The saved terminal mode is restored on drop and
//! before every exit.
//!
//! bash clears the prompt's row before running a `bind -x` widget, so for bash the widget
//! passes the row's text (`--redraw`): it is drawn while waiting with the mark right after it,
//! and the row is cleared again afterwards for readline's own redraw.

use std::fs::{File, OpenOptions};
use std::io::{Read as _, Write as _};
use std::os::fd::AsRawFd as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// Frames of the progress mark.
const FRAMES: [char; 4] = ['◐', '◓', '◑', '◒'];

/// The controlling terminal, put in "no signals, no echo" mode for the wait.
pub struct Tty {
    file: File,
    saved: Option<libc::termios>,
    cols: u16,
    drawn: bool,
    frame: usize,
    /// bash: the row's text, drawn while waiting (the mark follows it).
    redraw: Option<String>,
    /// The key reader: its stop flag, its thread, and the bytes it read that were not Ctrl-C.
    reader: Option<(Arc<AtomicBool>, JoinHandle<()>)>,
    typed: Arc<Mutex<Vec<u8>>>,
}

impl Tty {
    /// Open `/dev/tty`; `None` without a controlling terminal (scripts, tests without a pty).
    pub fn open(redraw: Option<&str>) -> Option<Tty> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/tty")
            .ok()?;
        let fd = file.as_raw_fd();
        let mut tio = std::mem::MaybeUninit::<libc::termios>::uninit();
        // SAFETY: fd is an open descriptor owned by `file`; tcgetattr writes a full termios
        // into the buffer on success, and we only read it then.
        #[allow(unsafe_code)]
        let saved =
            unsafe { (libc::tcgetattr(fd, tio.as_mut_ptr()) == 0).then(|| tio.assume_init()) };
        if let Some(orig) = saved {
            let mut raw = orig;
            raw.c_lflag &= !(libc::ISIG | libc::ICANON | libc::ECHO);
            raw.c_cc[libc::VMIN] = 1;
            raw.c_cc[libc::VTIME] = 0;
            // SAFETY: fd is open; raw is a valid termios derived from the current one.
            #[allow(unsafe_code)]
            unsafe {
                libc::tcsetattr(fd, libc::TCSANOW, &raw);
            }
        }
        let mut ws = libc::winsize {
            ws_row: 0,
            ws_col: 0,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: TIOCGWINSZ fills a winsize struct we own.
        #[allow(unsafe_code)]
        let cols = if unsafe { libc::ioctl(fd, libc::TIOCGWINSZ, &mut ws) } == 0 {
            ws.ws_col
        } else {
            0
        };
        let mut tty = Tty {
            file,
            saved,
            cols,
            drawn: false,
            frame: 0,
            redraw: None,
            reader: None,
            typed: Arc::default(),
        };
        if let Some(text) = redraw.filter(|_| cols >= 8) {
            // Keep the row to one line: newlines shown as spaces, long text cut on the left.
            let flat: String = codexd_proto::text::strip_controls(text)
                .chars()
                .map(|c| if c == '\n' || c == '\t' { ' ' } else { c })
                .collect();
            let room = usize::from(cols) - 3;
            let count = flat.chars().count();
            let shown = if count > room {
                let tail: String = flat.chars().skip(count - room + 1).collect();
                format!("…{tail}")
            } else {
                flat
            };
            let _ = write!(tty.file, "\r\x1b[K{shown}");
            let _ = tty.file.flush();
            tty.redraw = Some(shown);
        }
        Some(tty)
    }

    /// Read keys on another thread until [`Tty::typeahead`]; send `()` when Ctrl-C (or Ctrl-G)
    /// is pressed. Every other byte is kept as type-ahead. The reader polls with a short
    /// timeout so it can stop without consuming a key typed after the wait.
    pub fn watch_keys(&mut self, tx: Sender<()>) {
        let Ok(mut reader) = self.file.try_clone() else {
            return;
        };
        let stop = Arc::new(AtomicBool::new(false));
        let typed = Arc::clone(&self.typed);
        let flag = Arc::clone(&stop);
        let handle = std::thread::spawn(move || {
            let mut buf = [0u8; 256];
            while !flag.load(Ordering::Acquire) {
                match readable(reader.as_raw_fd(), Duration::from_millis(40)) {
                    Some(true) => {}
                    Some(false) => continue,
                    None => return,
                }
                let n = match reader.read(&mut buf) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => n,
                };
                let bytes = &buf[..n];
                if let Some(at) = bytes.iter().position(|b| matches!(b, 0x03 | 0x07)) {
                    lock(&typed).extend_from_slice(&bytes[..at]);
                    let _ = tx.send(());
                    return;
                }
                lock(&typed).extend_from_slice(bytes);
            }
        });
        self.reader = Some((stop, handle));
    }

    /// Stop reading keys and return what was typed meanwhile, as text to append to a line:
    /// Backspace and Ctrl-U applied, control characters and escape sequences (arrow keys,
    /// Enter) dropped — a suggestion is never run by a key pressed before it was shown.
    pub fn typeahead(&mut self) -> String {
        if let Some((stop, handle)) = self.reader.take() {
            stop.store(true, Ordering::Release);
            let _ = handle.join();
        }
        let bytes = std::mem::take(&mut *lock(&self.typed));
        typed_text(&bytes)
    }

    /// Draw (or advance) the progress mark.
    pub fn tick(&mut self) {
        if self.cols < 2 {
            return;
        }
        let frame = FRAMES[self.frame % FRAMES.len()];
        self.frame += 1;
        // Save cursor, jump to the mark's column (after the redrawn text, else the last
        // column), draw, restore: the shell's line and cursor stay where they are.
        let _ = write!(self.file, "\x1b7\x1b[{}G{frame}\x1b8", self.mark_column());
        let _ = self.file.flush();
        self.drawn = true;
    }

    /// Remove the mark and give the terminal back as it was.
    pub fn restore(&mut self) {
        if self.redraw.take().is_some() {
            // Leave the row as bash left it (empty, cursor at column 1) for readline's redraw.
            let _ = write!(self.file, "\r\x1b[K");
            let _ = self.file.flush();
            self.drawn = false;
        }
        if self.drawn {
            let _ = write!(self.file, "\x1b7\x1b[{}G \x1b8", self.mark_column());
            let _ = self.file.flush();
            self.drawn = false;
        }
        if let Some((stop, handle)) = self.reader.take() {
            stop.store(true, Ordering::Release);
            let _ = handle.join();
        }
        if let Some(orig) = self.saved.take() {
            // SAFETY: the descriptor is open; `orig` is the termios read at open.
            #[allow(unsafe_code)]
            unsafe {
                libc::tcsetattr(self.file.as_raw_fd(), libc::TCSANOW, &orig);
            }
        }
    }
}

impl Tty {
    /// The column of the progress mark (1-based).
    fn mark_column(&self) -> usize {
        match &self.redraw {
            Some(text) => text.chars().count() + 2,
            None => usize::from(self.cols),
        }
    }
}

/// Whether `fd` has input within `wait`; `None` once it is closed or broken.
fn readable(fd: i32, wait: Duration) -> Option<bool> {
    let mut pfd = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    let ms = i32::try_from(wait.as_millis()).unwrap_or(i32::MAX);
    // SAFETY: one valid pollfd for an open descriptor, for the duration of the call.
    #[allow(unsafe_code)]
    let n = unsafe { libc::poll(&mut pfd, 1, ms) };
    if n < 0 {
        let interrupted = std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted;
        return interrupted.then_some(false);
    }
    if pfd.revents & libc::POLLIN != 0 {
        return Some(true);
    }
    if pfd.revents & (libc::POLLHUP | libc::POLLERR | libc::POLLNVAL) != 0 {
        return None;
    }
    Some(false)
}

/// Keys as typed → text to put on the line (see [`Tty::typeahead`]).
fn typed_text(bytes: &[u8]) -> String {
    let mut text = String::new();
    for c in String::from_utf8_lossy(bytes).chars() {
        match c {
            '\u{7f}' | '\u{8}' => {
                text.pop();
            }
            '\u{15}' => text.clear(),
            c => text.push(c),
        }
    }
    codexd_proto::text::strip_controls(&text)
        .chars()
        .filter(|c| !matches!(c, '\n' | '\t'))
        .collect()
}

fn lock(m: &Mutex<Vec<u8>>) -> std::sync::MutexGuard<'_, Vec<u8>> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Drop for Tty {
    fn drop(&mut self) {
        self.restore();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_keys_become_inert_text() {
        assert_eq!(typed_text(b" | head"), " | head");
        // Backspace and Ctrl-U are applied; Enter, Tab and arrow keys are dropped.
        assert_eq!(typed_text(b" | heaX\x7fd\r"), " | head");
        assert_eq!(typed_text(b"junk\x15 -l\t\x1b[A\x1bOB"), " -l");
        assert_eq!(typed_text("é\nü".as_bytes()), "éü");
    }
}
