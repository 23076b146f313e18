//! The socket layer's promises under misuse and faults, against the real
//! kernel: frames of another UMEM, lost tokens, a busy queue, a vanished
//! interface, back-to-back restarts on one queue, shared-UMEM inheritance.

mod common;

use std::io::{BufRead, BufReader};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::process::Stdio;
use std::time::{Duration, Instant};
use xsk::{ErrorKind, FrameCopy, Umem, UmemConfig, Xsk, XskConfig};
use xskit::net::packet::PacketSocket;
use xskit::net::veth;
use xskit::testing::{
    experimental_frame, have_root, in_inner, in_netns, is_experimental, sandbox, veth_pair,
    veth_pair_named,
};
use xskit::xdp::{HookChoice, Program, XdpProgram};

fn small(bind: FrameCopy) -> XskConfig {
    XskConfig::default()
        .umem(UmemConfig::default().frame_count(256))
        .fill_size(256)
        .comp_size(256)
        .rx_size(256)
        .tx_size(256)
        .bind(bind)
        .need_wakeup(true)
        .multi_buffer(false)
        // FILL left empty: the tests count every frame from the free list.
        .prefill(0)
}

fn panics(f: impl FnOnce()) -> String {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(()) => "no panic".into(),
        Err(p) => p
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default(),
    }
}

#[test]
fn frames_of_another_umem_are_refused_by_every_socket_path() {
    if !have_root("frames_of_another_umem_are_refused_by_every_socket_path") {
        return;
    }
    in_netns(|| {
        let p = veth_pair().unwrap();
        let mut a = Xsk::new(&p.inner, 0, &small(FrameCopy::Copy)).unwrap();
        let (b, mut fb) = Umem::new(UmemConfig::default().frame_count(8)).unwrap();
        let before = a.accounting();
        let m = panics(|| a.release(fb.pop().unwrap()));
        assert!(m.contains("does not belong"), "release: {m}");
        let m = panics(|| {
            a.send(&mut vec![fb.pop().unwrap()]);
        });
        assert!(m.contains("does not belong"), "send: {m}");
        let m = panics(|| {
            let _ = a.send_one(fb.pop().unwrap());
        });
        assert!(m.contains("does not belong"), "send_one: {m}");
        // Nothing of B reached A's rings or free list.
        let after = a.accounting();
        assert_eq!(
            (after.free, after.tx),
            (before.free, before.tx),
            "{after:?}"
        );
        assert_eq!(a.refill(u32::MAX), 256);
        // Constructors refuse foreign frames with an error.
        let (c, fc) = Umem::new(UmemConfig::default().frame_count(2)).unwrap();
        let e = Xsk::with_umem(&p.inner, 0, &small(FrameCopy::Copy), b, fc).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidConfig, "{e}");
        assert!(e.to_string().contains("another UMEM"), "{e}");
        let e = Xsk::shared(&a, &p.inner, 0, &small(FrameCopy::Copy), fb).unwrap_err();
        assert!(e.to_string().contains("another UMEM"), "{e}");
        drop(c);
    });
}

/// Receives until at least `want` test frames are held.
fn hold_frames(xsk: &mut Xsk, peer: &PacketSocket, src: [u8; 6], want: usize) -> Vec<xsk::Frame> {
    for i in 0..want {
        peer.send(&experimental_frame(src, &[i as u8; 60])).unwrap();
    }
    let mut held = Vec::new();
    let mut batch = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    while held.len() < want && Instant::now() < deadline {
        xsk.socket()
            .poll_rx(Some(Duration::from_millis(100)))
            .unwrap();
        xsk.recv(&mut batch, 64);
        for f in batch.drain(..) {
            if is_experimental(xsk.umem().data(&f)) {
                held.push(f);
            } else {
                xsk.release(f);
            }
        }
    }
    assert_eq!(held.len(), want);
    held
}

#[test]
fn a_dropped_frame_token_makes_the_accounting_inconsistent() {
    if !have_root("a_dropped_frame_token_makes_the_accounting_inconsistent") {
        return;
    }
    in_netns(|| {
        let p = veth_pair().unwrap();
        let mut prog = XdpProgram::load(Program::Redirect, 1).unwrap();
        prog.attach(&p.inner, HookChoice::Auto, false).unwrap();
        let mut xsk = Xsk::new(&p.inner, 0, &small(FrameCopy::Copy)).unwrap();
        prog.register(0, &xsk).unwrap();
        xsk.refill(u32::MAX);
        let peer = PacketSocket::bind(&p.peer).unwrap();
        let src = veth::mac(&p.inner).unwrap();
        let mut held = hold_frames(&mut xsk, &peer, src, 6);
        let acc = xsk.accounting();
        assert!(acc.is_consistent(), "{acc:?}");
        assert_eq!((acc.application, acc.lost), (6, 0), "{acc:?}");
        assert_eq!(
            acc.fill + acc.kernel + acc.rx + acc.free + 6,
            acc.total,
            "{acc:?}"
        );
        // The kernel's share is read from its ring indices: frames on FILL
        // it has not taken are "fill", not "kernel".
        assert_eq!(acc.kernel, 0, "idle link: the kernel holds nothing {acc:?}");

        // Five tokens forgotten (dropped) by the application.
        held.truncate(1);
        let acc = xsk.accounting();
        assert!(
            !acc.is_consistent(),
            "a lost frame must be visible: {acc:?}"
        );
        assert_eq!((acc.application, acc.lost), (1, 5), "{acc:?}");
        xsk.release(held.pop().unwrap());
        assert_eq!(xsk.accounting().application, 0);
        assert!(!xsk.accounting().is_consistent(), "still lost");
    });
}

#[test]
fn shared_sockets_inherit_the_owners_wakeup_and_copy_mode() {
    if !have_root("shared_sockets_inherit_the_owners_wakeup_and_copy_mode") {
        return;
    }
    in_netns(|| {
        let p = veth_pair_named("xsk0", "peer0", 2).unwrap();
        let (umem, mut frames) = Umem::new(UmemConfig::default().frame_count(512)).unwrap();
        let theirs = frames.split_off(256);
        let mut cfg = small(FrameCopy::Copy);
        cfg.need_wakeup = false;
        let owner = Xsk::with_umem(&p.inner, 0, &cfg, umem, frames).unwrap();
        assert!(!owner.uses_need_wakeup());
        // The caller asks for need_wakeup and zero-copy; the kernel would
        // use the owner's settings, and so does the socket's report.
        let mut asked = small(FrameCopy::ZeroCopy);
        asked.need_wakeup = true;
        let second = Xsk::shared(&owner, &p.inner, 1, &asked, theirs).unwrap();
        assert!(!second.uses_need_wakeup(), "inherited from the owner");
        assert!(!second.is_zero_copy());
    });
}

#[test]
fn a_queue_held_by_a_live_socket_fails_with_the_reason() {
    if !have_root("a_queue_held_by_a_live_socket_fails_with_the_reason") {
        return;
    }
    in_netns(|| {
        let p = veth_pair().unwrap();
        let first = Xsk::new(&p.inner, 0, &small(FrameCopy::Copy)).unwrap();
        let started = Instant::now();
        let e = Xsk::new(&p.inner, 0, &small(FrameCopy::Copy)).unwrap_err();
        let took = started.elapsed();
        assert_eq!(e.kind(), ErrorKind::QueueBusy, "{e}");
        let text = e.to_string();
        if xsk::diag::holders().is_some() {
            // The kernel can say who holds it: named (this process, so
            // first waited for as a release, at most 2 s).
            assert!(took < Duration::from_secs(3), "{took:?}");
            assert!(
                text.contains(&format!("pid {}", std::process::id())),
                "{text}"
            );
        } else {
            // It cannot (no xsk_diag): a bounded wait, then says so.
            assert!(took < Duration::from_secs(3), "{took:?}");
            assert!(text.contains("cannot say"), "{text}");
        }
        // The OS error (EBUSY) is the source, not repeated in the text:
        // once in the whole chain.
        let source = std::error::Error::source(&e).expect("the OS error is the source");
        let chain = format!("{text}: {source}");
        assert_eq!(chain.matches("busy").count(), 2, "OS error once: {chain}");
        drop(first);
    });
}

#[test]
fn unaligned_chunks_are_refused_in_zero_copy_and_bind_copy_in_auto() {
    if !have_root("unaligned_chunks_are_refused_in_zero_copy_and_bind_copy_in_auto") {
        return;
    }
    in_netns(|| {
        let p = veth_pair().unwrap();
        let mut cfg = small(FrameCopy::ZeroCopy);
        cfg.umem.unaligned = true;
        cfg.umem.frame_size = 3000;
        let e = Xsk::new(&p.inner, 0, &cfg).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidConfig, "{e}");
        assert!(e.to_string().contains("huge pages"), "{e}");
        cfg.bind = FrameCopy::Auto;
        let x = Xsk::new(&p.inner, 0, &cfg).unwrap();
        assert!(!x.is_zero_copy());
    });
}

/// Starts `args` in the sandbox, waits for its first line, deletes the
/// inner interface, and returns how long the command took to exit, its
/// exit status and its stderr.
fn run_then_delete_interface(args: &[&str]) -> (Duration, std::process::ExitStatus, String) {
    let g = sandbox("gone").unwrap();
    let st = &g.0;
    let mut full = args.to_vec();
    full.extend(["--sandbox", &st.name, "-d", "20s"]);
    let mut child = common::bin()
        .args(&full)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().and_then(|l| l.ok()).unwrap_or_default();
    assert!(!first.is_empty(), "{args:?} printed nothing");
    std::thread::sleep(Duration::from_millis(300));
    let inner = st.inner_if.clone();
    in_inner(st, || veth::delete(&inner).unwrap());
    let deleted = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if deleted.elapsed() > Duration::from_secs(10) {
            let _ = child.kill();
            break child.wait().unwrap();
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let took = deleted.elapsed();
    let mut err = String::new();
    use std::io::Read;
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    (took, status, err)
}

#[test]
fn commands_exit_non_zero_within_2s_when_their_interface_is_deleted() {
    if !have_root("commands_exit_non_zero_within_2s_when_their_interface_is_deleted") {
        return;
    }
    for args in [
        &["rxdrop", "-p"][..],
        &["rxdrop"][..],
        &["echo"][..],
        &["echo", "-p"][..],
        &["dump"][..],
        &["dump", "--consume"][..],
    ] {
        let (took, status, err) = run_then_delete_interface(args);
        assert!(
            took < Duration::from_secs(2),
            "{args:?} took {took:?}: {err}"
        );
        assert!(!status.success(), "{args:?} exited 0: {err}");
        assert!(err.contains("gone"), "{args:?}: {err}");
        // dump says what it set up on stderr first ("capturing on ...",
        // as tcpdump says "listening on"); the error itself is one line.
        let lines: Vec<&str> = err
            .trim()
            .lines()
            .filter(|l| {
                !(args[0] == "dump"
                    && (l.starts_with("capturing on ") || l.starts_with("xdp_redirect on ")))
            })
            .collect();
        assert_eq!(lines.len(), 1, "{args:?}: one clear line: {err}");
    }
}

#[test]
fn five_back_to_back_txonly_runs_on_one_queue_all_succeed() {
    if !have_root("five_back_to_back_txonly_runs_on_one_queue_all_succeed") {
        return;
    }
    let g = sandbox("b2b").unwrap();
    let st = &g.0;
    for i in 0..5 {
        let o = common::bin()
            .args(["txonly", "--sandbox", &st.name, "-d", "500ms", "-Q"])
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "run {i}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
}

#[test]
fn an_idle_poll_notices_a_deleted_interface() {
    if !have_root("an_idle_poll_notices_a_deleted_interface") {
        return;
    }
    in_netns(|| {
        let p = veth_pair().unwrap();
        let xsk = Xsk::new(&p.inner, 0, &small(FrameCopy::Copy)).unwrap();
        assert!(
            !xsk.socket()
                .poll_rx(Some(Duration::from_millis(10)))
                .unwrap(),
            "idle, no frames"
        );
        xsk.check_bound().unwrap();
        veth::delete(&p.inner).unwrap();
        let e = xsk
            .socket()
            .poll_rx(Some(Duration::from_millis(10)))
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InterfaceGone, "{e}");
        assert_eq!(
            xsk.check_bound().unwrap_err().kind(),
            ErrorKind::InterfaceGone
        );
        // Kicks say the same.
        assert_eq!(
            xsk.socket().kick_tx().unwrap_err().kind(),
            ErrorKind::InterfaceGone
        );
    });
}

/// Sets `/proc/sys/vm/nr_hugepages` to `n` and returns the old value.
fn reserve_huge_pages(n: u64) -> u64 {
    let path = "/proc/sys/vm/nr_hugepages";
    let old: u64 = std::fs::read_to_string(path)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    std::fs::write(path, n.to_string()).unwrap();
    old
}

#[test]
fn a_huge_page_umem_receives_and_a_missing_reservation_is_named() {
    if !have_root("a_huge_page_umem_receives_and_a_missing_reservation_is_named") {
        return;
    }
    in_netns(|| {
        let p = veth_pair().unwrap();
        let mut cfg = small(FrameCopy::Copy);
        cfg.umem.huge_pages = true;
        cfg.umem.frame_count = 1024; // 4 MiB: two huge pages
        let old = reserve_huge_pages(0);
        let e = Xsk::new(&p.inner, 0, &cfg).unwrap_err();
        assert!(e.to_string().contains("nr_hugepages"), "{e}");
        assert!(e.to_string().contains("needs 2"), "{e}");
        reserve_huge_pages(old.max(4));
        let result = std::panic::catch_unwind(AssertUnwindSafe(|| {
            let mut prog = XdpProgram::load(Program::Redirect, 1).unwrap();
            prog.attach(&p.inner, HookChoice::Auto, false).unwrap();
            let mut xsk = Xsk::new(&p.inner, 0, &cfg).unwrap();
            prog.register(0, &xsk).unwrap();
            xsk.refill(u32::MAX);
            let peer = PacketSocket::bind(&p.peer).unwrap();
            let src = veth::mac(&p.inner).unwrap();
            let held = hold_frames(&mut xsk, &peer, src, 20);
            for (i, f) in held.into_iter().enumerate() {
                assert_eq!(&xsk.umem().data(&f)[14..], &[i as u8; 60][..]);
                xsk.release(f);
            }
            assert!(xsk.accounting().is_consistent());
            // Unaligned chunks may bind in zero-copy with huge pages (veth
            // has no zero-copy, so the driver refuses; the check passes).
            let mut zc = cfg;
            zc.bind = FrameCopy::ZeroCopy;
            zc.umem.unaligned = true;
            zc.umem.frame_size = 3000;
            drop(xsk);
            let e = Xsk::new(&p.inner, 0, &zc).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::ZeroCopyUnsupported, "{e}");
        }));
        reserve_huge_pages(old);
        if let Err(p) = result {
            std::panic::resume_unwind(p);
        }
    });
}

#[test]
fn an_endless_poll_notices_a_deleted_interface_within_a_second_or_so() {
    if !have_root("an_endless_poll_notices_a_deleted_interface_within_a_second_or_so") {
        return;
    }
    in_netns(|| {
        let p = veth_pair().unwrap();
        let xsk = Xsk::new(&p.inner, 0, &small(FrameCopy::Copy)).unwrap();
        let sock = xsk.socket().try_clone().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        // Deleted before the wait starts: the kernel has already unbound
        // the socket and will never report it ready (nor wake the wait).
        veth::delete(&p.inner).unwrap();
        let deleted = Instant::now();
        // On a thread of its own, so that a wait that never ends fails the
        // test instead of hanging it.
        std::thread::spawn(move || {
            let _ = tx.send(sock.poll_rx(None).map_err(|e| e.kind()));
        });
        let r = rx
            .recv_timeout(Duration::from_secs(5))
            .expect("poll_rx(None) still waiting 5 s after the interface was deleted");
        assert_eq!(r, Err(ErrorKind::InterfaceGone));
        let took = deleted.elapsed();
        assert!(
            took < Duration::from_millis(1500),
            "noticed {took:?} after the deletion"
        );
    });
}

#[test]
fn a_second_socket_on_the_owners_own_queue_is_refused_with_the_reason() {
    if !have_root("a_second_socket_on_the_owners_own_queue_is_refused_with_the_reason") {
        return;
    }
    in_netns(|| {
        let p = veth_pair().unwrap();
        let (umem, mut frames) = Umem::new(UmemConfig::default().frame_count(512)).unwrap();
        let theirs = frames.split_off(256);
        let owner = Xsk::with_umem(&p.inner, 0, &small(FrameCopy::Copy), umem, frames).unwrap();
        let e = Xsk::shared(&owner, &p.inner, 0, &small(FrameCopy::Copy), theirs).unwrap_err();
        assert!(e.to_string().contains("owner's own"), "{e}");
    });
}

#[test]
fn a_queue_held_by_another_process_fails_naming_it_where_the_kernel_can_say() {
    if !have_root(
        "a_queue_held_by_another_process_fails_at_once_naming_it_where_the_kernel_can_say",
    ) {
        return;
    }
    in_netns(|| {
        let p = veth_pair().unwrap();
        // A child of this thread lives in this thread's namespace.
        let mut child = common::bin()
            .args(["rxdrop", "-i", &p.inner, "-d", "30s", "-Q"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let first = lines.next().and_then(|l| l.ok()).unwrap_or_default();
        assert!(first.contains("rxdrop"), "{first}");
        let started = Instant::now();
        let e = Xsk::new(&p.inner, 0, &small(FrameCopy::Copy)).unwrap_err();
        let took = started.elapsed();
        let _ = child.kill();
        let _ = child.wait();
        assert_eq!(e.kind(), ErrorKind::QueueBusy, "{e}");
        let text = e.to_string();
        if xsk::diag::holders().is_some() {
            assert!(took < Duration::from_millis(500), "{took:?}: {text}");
            assert!(
                text.contains(&format!("pid {} (xskit)", child.id())),
                "{text}"
            );
        } else {
            assert!(took < Duration::from_secs(3), "{took:?}");
            assert!(text.contains("cannot say"), "{text}");
        }
    });
}
