//! The terminal while `suggest` waits: a progress mark drawn in the last column of the cursor's
//! row on `/dev/tty` (never on stdout, which the widget captures), and Ctrl-C read as a byte
//! (the tty's `isig` is off meanwhile, so the shell itself never sees SIGINT and keeps its
//! line). The saved terminal mode is restored on drop and before every exit.

use std::fs::{File, OpenOptions};
use std::io::{Read as _, Write as _};
use std::os::fd::AsRawFd as _;
use std::sync::mpsc::Sender;

/// Frames of the progress mark.
const FRAMES: [char; 4] = ['◐', '◓', '◑', '◒'];

/// The controlling terminal, put in "no signals, no echo" mode for the wait.
pub struct Tty {
    file: File,
    saved: Option<libc::termios>,
    cols: u16,
    drawn: bool,
    frame: usize,
}

impl Tty {
    /// Open `/dev/tty`; `None` without a controlling terminal (scripts, tests without a pty).
    pub fn open() -> Option<Tty> {
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
        Some(Tty {
            file,
            saved,
            cols,
            drawn: false,
            frame: 0,
        })
    }

    /// Read keys on another thread; send `()` when Ctrl-C (or Ctrl-G) is pressed.
    pub fn watch_interrupt(&self, tx: Sender<()>) {
        let Ok(mut reader) = self.file.try_clone() else {
            return;
        };
        std::thread::spawn(move || {
            let mut byte = [0u8; 1];
            while let Ok(1) = reader.read(&mut byte) {
                if matches!(byte[0], 0x03 | 0x07) {
                    let _ = tx.send(());
                    return;
                }
            }
        });
    }

    /// Draw (or advance) the progress mark.
    pub fn tick(&mut self) {
        if self.cols < 2 {
            return;
        }
        let frame = FRAMES[self.frame % FRAMES.len()];
        self.frame += 1;
        // Save cursor, jump to the last column of this row, draw, restore: the shell's line
        // and cursor stay where they are.
        let _ = write!(self.file, "\x1b7\x1b[{}G{frame}\x1b8", self.cols);
        let _ = self.file.flush();
        self.drawn = true;
    }

    /// Remove the mark and give the terminal back as it was.
    pub fn restore(&mut self) {
        if self.drawn {
            let _ = write!(self.file, "\x1b7\x1b[{}G \x1b8", self.cols);
            let _ = self.file.flush();
            self.drawn = false;
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

impl Drop for Tty {
    fn drop(&mut self) {
        self.restore();
    }
}
