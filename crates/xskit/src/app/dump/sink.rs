//! Where `xskit dump` puts frames: text lines, a pcap file or a pcapng
//! file (pcap-file's writers), on a path or standard output (`-w -`).
//!
//! Like tcpdump: the file header is written at once; with `-U`, or when
//! the output is a pipe, every packet is flushed as it is written; to a
//! regular file the output is flushed after each batch the capture hands
//! over, so a killed `dump -w` leaves a readable file.

use crate::wire::summary::{hexdump, summarize};
use anyhow::{Context, Result};
use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};
use pcap_file::pcapng::blocks::enhanced_packet::{EnhancedPacketBlock, EnhancedPacketOption};
use pcap_file::pcapng::blocks::interface_description::{
    InterfaceDescriptionBlock, InterfaceDescriptionOption,
};
use pcap_file::pcapng::PcapNgWriter;
use pcap_file::DataLink;
use std::borrow::Cow;
use std::cell::RefCell;
use std::io::{BufWriter, Write};
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::Duration;

/// A writer the pcap writers own and the sink can still flush (pcap-file's
/// `PcapWriter` gives no access to its writer until `into_writer`).
#[derive(Clone)]
struct Shared(Rc<RefCell<Box<dyn Write>>>);

impl Write for Shared {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.borrow_mut().write(b)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.0.borrow_mut().flush()
    }
}

enum Format {
    Text { hex: bool },
    Pcap(PcapWriter<Shared>),
    PcapNg(PcapNgWriter<Shared>),
}

/// The output of one capture.
pub struct Sink<'a> {
    text_out: &'a mut dyn Write,
    file: Option<Shared>,
    format: Format,
    /// What the output is called in messages (a path or "standard output").
    pub name: String,
    snaplen: usize,
    per_packet: bool,
    /// Frames written.
    pub captured: u64,
    /// A note added to each pcapng packet (how it was captured).
    comment: String,
    /// A note on the next frame only ([`Sink::set_note`]).
    note: Option<String>,
    /// The next frame's hardware receive time ([`Sink::set_hw_time`]).
    hw_time: Option<Duration>,
    /// pcapng: the second interface description (frames timed by the
    /// NIC's clock) is written.
    hw_idb: bool,
    /// The interface's name, for that description.
    iface: String,
}

/// pcapng interface 1's description: frames whose time is the NIC's.
pub const HW_IDB_DESCRIPTION: &str = "the same interface, frames timed by the NIC's hardware \
     clock (bpf_xdp_metadata_rx_timestamp): UTC only where that clock follows it (phc2sys); \
     interface 0's frames are timed by the host's clock when xskit read them";

/// What the program that copied a frame did with it (a capture beside an
/// attached xskit program).
#[derive(Clone, Copy, Debug)]
pub struct Verdict {
    /// The XDP action in words: `pass`, `drop`, `redirect`, ...
    pub action: &'static str,
    /// The frame's rx queue.
    pub rx_queue: u32,
}

/// How to open a sink.
pub struct SinkOptions<'a> {
    /// `-w`: a path, or `-` for standard output.
    pub write: Option<&'a Path>,
    /// `--pcapng` instead of pcap.
    pub pcapng: bool,
    /// `-x` (text output only).
    pub hex: bool,
    /// `-s`: bytes kept of each frame.
    pub snaplen: u32,
    /// `-U`: flush after every packet.
    pub packet_buffered: bool,
    /// Interface name for the pcapng interface description.
    pub iface: &'a str,
    /// Per-packet pcapng comment.
    pub comment: String,
}

fn is_pipe(f: &std::fs::File) -> bool {
    f.metadata()
        .map(|m| m.file_type().is_fifo() || m.file_type().is_socket())
        .unwrap_or(false)
}

impl<'a> Sink<'a> {
    /// Opens the output and writes the file header (flushed at once).
    pub fn open(o: &SinkOptions, text_out: &'a mut dyn Write) -> Result<Sink<'a>> {
        let Some(path) = o.write else {
            return Ok(Sink {
                text_out,
                file: None,
                format: Format::Text { hex: o.hex },
                name: "standard output".into(),
                snaplen: o.snaplen as usize,
                per_packet: o.packet_buffered,
                captured: 0,
                comment: o.comment.clone(),
                note: None,
                hw_time: None,
                hw_idb: false,
                iface: o.iface.to_string(),
            });
        };
        let (w, name, pipe): (Box<dyn Write>, String, bool) = if path == Path::new("-") {
            let pipe = std::fs::metadata("/proc/self/fd/1")
                .map(|m| m.file_type().is_fifo() || m.file_type().is_socket())
                .unwrap_or(false);
            (
                Box::new(BufWriter::new(std::io::stdout())),
                "standard output".into(),
                pipe,
            )
        } else {
            let f = std::fs::File::create(path)
                .with_context(|| format!("creating {}", path.display()))?;
            let pipe = is_pipe(&f);
            (
                Box::new(BufWriter::new(f)),
                path.display().to_string(),
                pipe,
            )
        };
        let shared = Shared(Rc::new(RefCell::new(w)));
        let ctx = || format!("writing {name}");
        let format = if o.pcapng {
            let mut w = PcapNgWriter::new(shared.clone()).with_context(ctx)?;
            let idb = InterfaceDescriptionBlock {
                linktype: DataLink::ETHERNET,
                snaplen: o.snaplen,
                options: vec![
                    InterfaceDescriptionOption::IfName(Cow::Owned(o.iface.to_string())),
                    // pcap-file writes nanosecond timestamps.
                    InterfaceDescriptionOption::IfTsResol(9),
                ],
            };
            w.write_pcapng_block(idb).with_context(ctx)?;
            Format::PcapNg(w)
        } else {
            let header = PcapHeader {
                snaplen: o.snaplen,
                ..Default::default()
            };
            Format::Pcap(PcapWriter::with_header(shared.clone(), header).with_context(ctx)?)
        };
        let mut sink = Sink {
            text_out,
            file: Some(shared),
            format,
            name,
            snaplen: o.snaplen as usize,
            per_packet: o.packet_buffered || pipe,
            captured: 0,
            comment: o.comment.clone(),
            note: None,
            hw_time: None,
            hw_idb: false,
            iface: o.iface.to_string(),
        };
        sink.flush()?;
        Ok(sink)
    }

    /// Replaces the per-packet pcapng comment (once it is known how frames
    /// are captured).
    pub fn set_comment(&mut self, comment: String) {
        self.comment = comment;
    }

    /// Puts `note` on the next frame written: on its text line (`[note]`)
    /// and in its pcapng comment (its RX metadata, for `--rx-meta`).
    pub fn set_note(&mut self, note: String) {
        self.note = Some(note);
    }

    /// Gives the next frame written the NIC's receive time `t` (its RX
    /// metadata's timestamp): pcapng files time it so, on an interface
    /// description of its own ([`HW_IDB_DESCRIPTION`]); pcap and text keep
    /// the host's time (the text line shows both).
    pub fn set_hw_time(&mut self, t: Option<Duration>) {
        self.hw_time = t;
    }

    /// Writes one frame received at `when` (since the Unix epoch).
    pub fn frame(&mut self, when: Duration, wire_len: u32, data: &[u8]) -> Result<()> {
        self.frame_with(when, wire_len, data, None)
    }

    /// Like [`Sink::frame`], with the verdict of the program that copied
    /// the frame: on the text line (`[redirect q0]`) and in the pcapng
    /// comment (pcap has no place for it).
    pub fn frame_with(
        &mut self,
        when: Duration,
        wire_len: u32,
        data: &[u8],
        verdict: Option<Verdict>,
    ) -> Result<()> {
        self.captured += 1;
        let note = self.note.take();
        let hw_time = self.hw_time.take();
        // Lines and comments describe the whole frame; files keep -s bytes.
        let full = data;
        let data = &data[..data.len().min(self.snaplen)];
        let ctx = || format!("writing {}", self.name);
        match &mut self.format {
            Format::Pcap(w) => {
                w.write_packet(&PcapPacket::new(when, wire_len, data))
                    .with_context(ctx)?;
            }
            Format::PcapNg(w) => {
                let comment = match verdict {
                    Some(v) => format!(
                        "verdict {}, rx queue {}; {}; {}",
                        v.action,
                        v.rx_queue,
                        summarize(full),
                        self.comment
                    ),
                    None => format!("{}; {}", summarize(full), self.comment),
                };
                let comment = match &note {
                    Some(n) => format!("{n}; {comment}"),
                    None => comment,
                };
                if hw_time.is_some() && !self.hw_idb {
                    let idb = InterfaceDescriptionBlock {
                        linktype: DataLink::ETHERNET,
                        snaplen: self.snaplen as u32,
                        options: vec![
                            InterfaceDescriptionOption::IfName(Cow::Borrowed(self.iface.as_str())),
                            InterfaceDescriptionOption::IfDescription(Cow::Borrowed(
                                HW_IDB_DESCRIPTION,
                            )),
                            InterfaceDescriptionOption::IfTsResol(9),
                        ],
                    };
                    w.write_pcapng_block(idb).with_context(ctx)?;
                    self.hw_idb = true;
                }
                let epb = EnhancedPacketBlock {
                    interface_id: u32::from(hw_time.is_some()),
                    timestamp: hw_time.unwrap_or(when),
                    original_len: wire_len,
                    data: Cow::Borrowed(data),
                    options: vec![EnhancedPacketOption::Comment(Cow::Owned(comment))],
                };
                w.write_pcapng_block(epb).with_context(ctx)?;
            }
            Format::Text { hex } => {
                let secs = when.as_secs();
                let verdict = verdict
                    .map(|v| format!("[{} q{}] ", v.action, v.rx_queue))
                    .unwrap_or_default();
                let verdict = match &note {
                    Some(n) => format!("{verdict}[{n}] "),
                    None => verdict,
                };
                writeln!(
                    self.text_out,
                    "{:02}:{:02}:{:02}.{:06} {verdict}{}, length {}",
                    secs / 3600 % 24,
                    secs / 60 % 60,
                    secs % 60,
                    when.subsec_micros(),
                    summarize(full),
                    wire_len
                )?;
                if *hex {
                    write!(self.text_out, "{}", hexdump(data))?;
                }
            }
        }
        if self.per_packet {
            self.flush()?;
        }
        Ok(())
    }

    /// Pushes everything written so far to the file, pipe or terminal.
    pub fn flush(&mut self) -> Result<()> {
        match &mut self.file {
            Some(f) => f.flush().with_context(|| format!("writing {}", self.name)),
            None => Ok(self.text_out.flush()?),
        }
    }

    /// The path written to, if a file.
    pub fn path(write: Option<&Path>) -> Option<PathBuf> {
        write
            .filter(|p| *p != Path::new("-"))
            .map(Path::to_path_buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pcap_file::pcapng::{Block, PcapNgReader};

    #[test]
    fn frames_with_a_hardware_time_go_on_an_interface_of_their_own() {
        let path = std::env::temp_dir().join(format!("xskit-hwts-{}.pcapng", std::process::id()));
        let mut text = Vec::new();
        let o = SinkOptions {
            write: Some(&path),
            pcapng: true,
            hex: false,
            snaplen: 262144,
            packet_buffered: false,
            iface: "eth7",
            comment: "test".into(),
        };
        let host = Duration::new(1_700_000_000, 5);
        let nic = Duration::new(1_234, 567_890_123);
        let frame = [0u8; 60];
        {
            let mut sink = Sink::open(&o, &mut text).unwrap();
            sink.frame(host, 60, &frame).unwrap();
            sink.set_hw_time(Some(nic));
            sink.frame(host, 60, &frame).unwrap();
            // Taken by the frame it was set for: the next one is the host's.
            sink.frame(host, 60, &frame).unwrap();
            sink.set_hw_time(Some(nic * 2));
            sink.frame(host, 60, &frame).unwrap();
            sink.flush().unwrap();
        }
        let bytes = std::fs::read(&path).unwrap();
        let _ = std::fs::remove_file(&path);
        let mut r = PcapNgReader::new(&bytes[..]).unwrap();
        let (mut idbs, mut epbs) = (Vec::new(), Vec::new());
        while let Some(b) = r.next_block() {
            match b.unwrap() {
                Block::InterfaceDescription(i) => idbs.push(format!("{:?}", i.options)),
                Block::EnhancedPacket(e) => epbs.push((e.interface_id, e.timestamp)),
                _ => {}
            }
        }
        // One description for the host's times, one (written once) for the NIC's.
        assert_eq!(idbs.len(), 2, "{idbs:?}");
        assert!(!idbs[0].contains("hardware"), "{}", idbs[0]);
        assert!(
            idbs[1].contains("hardware clock") && idbs[1].contains("eth7"),
            "{}",
            idbs[1]
        );
        assert_eq!(epbs, vec![(0, host), (1, nic), (0, host), (1, nic * 2)]);
    }
}
