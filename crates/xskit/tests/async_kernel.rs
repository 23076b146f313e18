//! The async echo responder (feature `tokio`) answers real pings.

use std::net::IpAddr;
use std::time::Duration;
use xsk::{AsyncXsk, Xsk, XskConfig};
use xskit::app::echo::asynch::answer_for;
use xskit::app::measure::demo::ping_series;
use xskit::net::addrs::echo_local;
use xskit::testing::{have_root, in_outer, sandbox};
use xskit::xdp::{HookChoice, Program, XdpProgram};

#[test]
fn the_async_responder_answers_pings_over_both_families() {
    if !have_root("the_async_responder_answers_pings_over_both_families") {
        return;
    }
    let g = sandbox("async").unwrap();
    let st = &g.0;
    let (tx, rx) = std::sync::mpsc::channel();
    let sum = std::thread::scope(|s| {
        let server = s.spawn(|| {
            st.enter_inner().unwrap();
            let iface = &st.inner_if;
            let mut prog = XdpProgram::load(Program::RedirectEcho, 1).unwrap();
            prog.attach(iface, HookChoice::Auto, false).unwrap();
            let xsk = Xsk::new(iface, 0, &XskConfig::default()).unwrap();
            prog.register(0, &xsk).unwrap();
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                let mut xsk = AsyncXsk::new(xsk).unwrap();
                tx.send(()).unwrap();
                answer_for(&mut xsk, &echo_local(iface), Duration::from_secs(3))
                    .await
                    .unwrap()
            })
        });
        rx.recv().unwrap();
        std::thread::sleep(Duration::from_millis(200));
        let (v6, v4) = in_outer(st, || {
            (
                ping_series(IpAddr::V6(st.inner_v6), 20, 56, Duration::ZERO).unwrap(),
                ping_series(IpAddr::V4(st.inner_v4), 20, 56, Duration::ZERO).unwrap(),
            )
        });
        assert_eq!((v6.correct, v4.correct), (20, 20), "{v6:?} {v4:?}");
        server.join().unwrap()
    });
    assert!(sum.answered >= 40, "{sum:?}");
}

#[test]
fn rx_ready_fails_soon_after_the_interface_is_deleted() {
    if !have_root("rx_ready_fails_soon_after_the_interface_is_deleted") {
        return;
    }
    xskit::testing::in_netns(|| {
        let p = xskit::testing::veth_pair().unwrap();
        let xsk = Xsk::new(&p.inner, 0, &XskConfig::default()).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        // Deleted under the socket before the wait starts: the kernel
        // unbinds it and never reports it ready again.
        xskit::net::veth::delete(&p.inner).unwrap();
        let deleted = std::time::Instant::now();
        let e = rt.block_on(async {
            let mut xsk = AsyncXsk::new(xsk).unwrap();
            tokio::time::timeout(Duration::from_secs(5), xsk.rx_ready())
                .await
                .expect("rx_ready still pending 5 s after the deletion")
                .unwrap_err()
        });
        assert_eq!(e.kind(), xsk::ErrorKind::InterfaceGone, "{e}");
        assert!(deleted.elapsed() < Duration::from_millis(1500));
    });
}
