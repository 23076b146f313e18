//! The socket layer's options in zero-copy: a UMEM shared by both NICs,
//! unaligned chunks in huge pages, busy polling on the socket's own NAPI,
//! multi-buffer (or its clear refusal), and `dump --consume`.

use super::nics::*;
use std::io::{BufRead, Read};
use std::time::{Duration, Instant};
use xsk::{ErrorKind, Umem, UmemConfig, Xsk};
use xskit::net::{packet::PacketSocket, veth};
use xskit::testing::experimental_frame;

#[test]
#[ignore = "needs two zero-copy NICs: scripts/vm-test --zero-copy"]
fn one_umem_shared_by_both_nics_receives_on_each() {
    let n = nics("one_umem_shared_by_both_nics_receives_on_each");
    // One UMEM, half its frames to a socket on each NIC (XDP_SHARED_UMEM
    // across devices, 5.10+); the second socket inherits zero-copy.
    let (umem, mut mine) = Umem::new(UmemConfig::default().frame_count(1024)).unwrap();
    let theirs = mine.split_off(512);
    let mut a = Xsk::with_umem(&n.a, 0, &config(), umem, mine).unwrap();
    assert_zero_copy(&a, &n.a);
    let mut b = Xsk::shared(&a, &n.b, 0, &config(), theirs)
        .unwrap_or_else(|e| panic!("a socket on {} sharing {}'s UMEM: {e}", n.b, n.a));
    assert_zero_copy(&b, &n.b);
    a.refill(u32::MAX);
    b.refill(u32::MAX);
    let pa = redirect_to(&n.a, &a);
    let pb = redirect_to(&n.b, &b);
    wait_carrier(&n.a);
    wait_carrier(&n.b);
    until_path_open(&n.b, &mut a, 0x40);
    until_path_open(&n.a, &mut b, 0x41);
    for (rx, tx, xsk, tag) in [(&n.a, &n.b, &mut a, 0x42u8), (&n.b, &n.a, &mut b, 0x43)] {
        let sent = frames(veth::mac(tx).unwrap(), tag, 100);
        let got = send_and_receive(tx, xsk, &sent, tag);
        assert!(
            got == sent,
            "{tx} -> {rx}: {} of 100 arrived whole",
            got.len()
        );
    }
    for (x, i) in [(&a, &n.a), (&b, &n.b)] {
        let acc = x.accounting();
        assert!(acc.is_consistent(), "{i}: {acc:?}");
    }
    drop((pa, pb));
    drop(b);
    drop(a);
    wait_carrier(&n.a);
    wait_carrier(&n.b);
}

/// At least `pages` 2 MiB huge pages reserved (the guest starts with none).
fn reserve_huge_pages(pages: u32) {
    let path = "/proc/sys/vm/nr_hugepages";
    let now: u32 = std::fs::read_to_string(path)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    if now < pages {
        std::fs::write(path, pages.to_string()).unwrap();
    }
}

#[test]
#[ignore = "needs two zero-copy NICs: scripts/vm-test --zero-copy"]
fn unaligned_chunks_in_huge_pages_receive_byte_for_byte() {
    let n = nics("unaligned_chunks_in_huge_pages_receive_byte_for_byte");
    // Zero-copy with unaligned chunks needs the UMEM in huge pages (else
    // the kernel drops every chunk that crosses a page); without them xsk
    // refuses the bind in one line.
    let plain = config().umem(UmemConfig::default().frame_count(1024).unaligned(true));
    let e = Xsk::new(&n.a, 0, &plain).err().map(|e| e.to_string());
    match bind_mode() {
        xsk::FrameCopy::ZeroCopy => {
            let e = e.expect("unaligned zero-copy without huge pages bound");
            assert!(e.contains("huge pages"), "{e}");
        }
        _ => assert!(e.is_none(), "copy mode, unaligned: {e:?}"),
    }
    reserve_huge_pages(64);
    let cfg = config().umem(
        UmemConfig::default()
            .frame_count(1024)
            .frame_size(3000)
            .unaligned(true)
            .huge_pages(true),
    );
    let mut xsk = Xsk::new(&n.a, 0, &cfg).unwrap_or_else(|e| panic!("{}: {e}", n.a));
    assert_zero_copy(&xsk, &n.a);
    xsk.refill(u32::MAX);
    let prog = redirect_to(&n.a, &xsk);
    wait_carrier(&n.a);
    until_path_open(&n.b, &mut xsk, 0x44);
    let sent = frames(veth::mac(&n.b).unwrap(), 0x45, 200);
    let got = send_and_receive(&n.b, &mut xsk, &sent, 0x45);
    assert_eq!(got.len(), sent.len(), "frames lost");
    assert!(got == sent, "bytes or order differ");
    let acc = xsk.accounting();
    assert!(acc.is_consistent(), "{acc:?}");
    drop(prog);
    drop(xsk);
    wait_carrier(&n.a);
}

#[test]
#[ignore = "needs two zero-copy NICs: scripts/vm-test --zero-copy"]
fn busy_polling_uses_the_sockets_own_napi() {
    let n = nics("busy_polling_uses_the_sockets_own_napi");
    let mut xsk = Xsk::new(&n.a, 0, &config()).unwrap();
    assert_zero_copy(&xsk, &n.a);
    // From 6.13 a socket gets its NAPI id at bind, from the NAPI the driver
    // reports for the queue: both drivers here report one.
    let id = xsk.socket().napi_id().unwrap();
    assert!(id.is_some(), "{}: no NAPI id after a zero-copy bind", n.a);
    xsk.socket().set_busy_poll(20, 64).unwrap();
    xsk.refill(u32::MAX);
    let prog = redirect_to(&n.a, &xsk);
    wait_carrier(&n.a);
    // Frames arrive with the application driving the NAPI loop from its
    // own wake-ups (recvfrom), as echo --busy-poll does.
    until_path_open(&n.b, &mut xsk, 0x46);
    let sent = frames(veth::mac(&n.b).unwrap(), 0x47, 100);
    let got = send_and_receive(&n.b, &mut xsk, &sent, 0x47);
    assert!(got == sent, "{} of 100 arrived whole", got.len());
    eprintln!("{}: NAPI id {:?}", n.a, id);
    drop(prog);
    drop(xsk);
    wait_carrier(&n.a);
}

#[test]
#[ignore = "needs two zero-copy NICs: scripts/vm-test --zero-copy"]
fn multi_buffer_binds_or_is_refused_in_one_line() {
    let n = nics("multi_buffer_binds_or_is_refused_in_one_line");
    let cfg = config().multi_buffer(true);
    match Xsk::new(&n.a, 0, &cfg) {
        Ok(xsk) => {
            assert_zero_copy(&xsk, &n.a);
            assert!(xsk.is_multi_buffer());
            eprintln!("{}: multi-buffer in zero-copy: bound", n.a);
            drop(xsk);
        }
        Err(e) => {
            // The mutation check binds in copy mode, where multi-buffer
            // always binds: an error there fails the test too.
            assert_eq!(bind_mode(), xsk::FrameCopy::ZeroCopy, "{e}");
            assert_eq!(e.kind(), ErrorKind::Unsupported, "{e}");
            let text = e.to_string();
            assert!(text.contains("multi-buffer"), "{text}");
            assert_eq!(text.lines().count(), 1, "{text}");
            eprintln!("{}: multi-buffer in zero-copy refused: {text}", n.a);
        }
    }
    wait_carrier(&n.a);
}

#[test]
#[ignore = "needs two zero-copy NICs: scripts/vm-test --zero-copy"]
fn dump_consume_takes_the_frames_in_zero_copy() {
    let n = nics("dump_consume_takes_the_frames_in_zero_copy");
    let mut child = spawn_xskit(&[
        "dump",
        "-i",
        &n.a,
        "--consume",
        // dump's -c is its frame count.
        if bind_flag() == "-c" { "--copy" } else { "-z" },
        "-c",
        "20",
        "-d",
        "60s",
    ]);
    // Its set-up lines on stderr, the socket's among them.
    let mut err = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut setup = String::new();
    let end = Instant::now() + Duration::from_secs(30);
    while !setup.contains(" bind") && Instant::now() < end {
        if err.read_line(&mut setup).unwrap() == 0 {
            break;
        }
    }
    wait_carrier(&n.a);
    let tx = PacketSocket::bind(&n.b).unwrap();
    let src = veth::mac(&n.b).unwrap();
    let end = Instant::now() + Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() && Instant::now() < end {
        tx.send(&experimental_frame(src, &[0x48; 60])).unwrap();
        std::thread::sleep(Duration::from_millis(50));
    }
    if child.try_wait().unwrap().is_none() {
        let _ = child.kill();
    }
    let o = child.wait_with_output().unwrap();
    let mut rest = String::new();
    let _ = err.read_to_string(&mut rest);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "dump: {:?}\n{setup}{rest}\n{out}",
        o.status
    );
    assert!(
        setup.contains("zero-copy bind"),
        "dump --consume did not bind zero-copy: {setup}"
    );
    assert_eq!(out.lines().count(), 20, "{out}");
    wait_carrier(&n.a);
}
