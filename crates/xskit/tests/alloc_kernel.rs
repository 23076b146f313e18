//! The steady-state receive and transmit loops allocate nothing: a counting
//! global allocator watches the worker thread while real frames flow.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};
use xsk::{FrameCopy, Xsk, XskConfig};
use xskit::app::measure::gen::{self, GenArgs};
use xskit::app::modes::{udp_template, Benchmark, Worker, WorkerConfig};
use xskit::testing::{have_root, in_outer, sandbox};
use xskit::xdp::{HookChoice, Program, XdpProgram};

struct Counting;

thread_local! {
    static ON: Cell<bool> = const { Cell::new(false) };
    static COUNT: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: forwards to the system allocator; the bookkeeping touches only
// const-initialised thread-locals without destructors, which never allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ON.try_with(|on| {
            if on.get() {
                let _ = COUNT.try_with(|c| c.set(c.get() + 1));
            }
        });
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as our caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Steps `w` until `warm` frames passed, then counts allocations over the
/// next `measured` frames. Returns (allocations, frames measured).
fn measure(
    w: &mut Worker,
    warm: u64,
    measured: u64,
    frames: impl Fn(&Worker) -> u64,
) -> (u64, u64) {
    let deadline =
        Instant::now() + Duration::from_secs(if xskit::testing::slow() { 60 } else { 20 });
    while frames(w) < warm && Instant::now() < deadline {
        w.step().unwrap();
    }
    let start = frames(w);
    ON.with(|o| o.set(true));
    while frames(w) < start + measured && Instant::now() < deadline {
        w.step().unwrap();
    }
    ON.with(|o| o.set(false));
    (COUNT.with(|c| c.replace(0)), frames(w) - start)
}

#[test]
fn rx_tx_and_forward_loops_allocate_nothing_per_packet() {
    if !have_root("rx_tx_and_forward_loops_allocate_nothing_per_packet") {
        return;
    }
    let g = sandbox("alloc").unwrap();
    let st = &g.0;
    let config = XskConfig::default().bind(FrameCopy::Copy);
    let stop = AtomicBool::new(false);
    let (warm, measured) = if xskit::testing::slow() {
        (2_000, 20_000)
    } else {
        (20_000, 200_000)
    };
    std::thread::scope(|s| {
        // Traffic for the receive loops, for as long as they need.
        let gen = s.spawn(|| {
            in_outer(st, || {
                #[derive(clap::Parser)]
                struct G {
                    #[command(flatten)]
                    g: GenArgs,
                }
                let args = <G as clap::Parser>::parse_from([
                    "gen",
                    "--sandbox",
                    &st.name,
                    "-Q",
                    "-r",
                    "300000",
                    "-d",
                    if xskit::testing::slow() {
                        "240s"
                    } else {
                        "30s"
                    },
                ])
                .g;
                let plan = args.plan().unwrap();
                gen::run(&args, &plan, &stop, &mut std::io::sink()).unwrap()
            })
        });
        let results = s
            .spawn(|| {
                st.enter_inner().unwrap();
                let mut out = Vec::new();
                for mode in [Benchmark::Rxdrop, Benchmark::L2fwd] {
                    let mut prog = XdpProgram::load(Program::Redirect, 1).unwrap();
                    prog.attach(&st.inner_if, HookChoice::Auto, false).unwrap();
                    let xsk = Xsk::new(&st.inner_if, 0, &config).unwrap();
                    prog.register(0, &xsk).unwrap();
                    let mut w = Worker::new(xsk, mode, &WorkerConfig::default(), &[]).unwrap();
                    let c = w.counters();
                    out.push((
                        mode,
                        measure(&mut w, warm, measured, move |_| c.totals().rx_packets),
                    ));
                }
                let tmpl = udp_template(
                    [2, 0, 0, 0, 0, 1],
                    [0xff; 6],
                    st.inner_v4.into(),
                    st.outer_v4.into(),
                    1,
                    9,
                    64,
                )
                .unwrap();
                let xsk = Xsk::new(&st.inner_if, 0, &config).unwrap();
                let mut w =
                    Worker::new(xsk, Benchmark::Txonly, &WorkerConfig::default(), &tmpl).unwrap();
                let c = w.counters();
                out.push((
                    Benchmark::Txonly,
                    measure(&mut w, warm, measured, move |_| c.totals().tx_packets),
                ));
                out
            })
            .join()
            .unwrap();
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        gen.join().unwrap();
        for (mode, (allocs, frames)) in results {
            assert!(
                frames >= measured,
                "{mode:?}: only {frames} frames in the window"
            );
            assert_eq!(
                allocs, 0,
                "{mode:?}: {allocs} allocations over {frames} frames"
            );
        }
    });
}

#[test]
fn echo_answer_and_rate_limit_allocate_nothing_per_packet() {
    use xskit::app::echo::ratelimit::{Limiter, RateLimit};
    use xskit::wire::{build, echo, policy::Local};
    // No kernel needed: the responder's per-frame work on prepared frames.
    let local = Local {
        mac: [2, 0, 0, 0, 0, 1],
        v4: vec!["198.18.0.1".parse().unwrap()],
        v4_broadcast: vec!["198.18.0.255".parse().unwrap()],
        v6: vec!["fc00::1".parse().unwrap()],
        v6_groups: vec!["ff02::1".parse().unwrap()],
        ..Default::default()
    };
    let (a, b) = ([2, 0, 0, 0, 0, 2], [2, 0, 0, 0, 0, 1]);
    let mut frames: Vec<Vec<u8>> = (0..4096u32)
        .map(|i| {
            let src = std::net::Ipv4Addr::from(0x0a00_0000 | i);
            match i % 4 {
                0 => build::echo_request_v4(a, b, src, local.v4[0], 1, i as u16, &[0; 56]),
                1 => build::echo_request_v6(
                    a,
                    b,
                    src.to_ipv6_compatible(),
                    "ff02::1".parse().unwrap(),
                    1,
                    i as u16,
                    &[0; 56],
                ),
                2 => build::echo_request_v4(a, b, src, "224.0.0.1".parse().unwrap(), 1, 1, &[0; 8]),
                _ => {
                    build::echo_request_v6(a, b, "ff02::1".parse().unwrap(), local.v6[0], 1, 1, &[])
                }
            }
        })
        .collect();
    let mut limiter = Limiter::new(RateLimit {
        per_second: 1000,
        burst: 10,
    });
    let now = Instant::now();
    ON.with(|o| o.set(true));
    let mut answered = 0;
    for f in frames.iter_mut() {
        if echo::answer_with(f, &local, |src| limiter.admit(src, now)).is_ok() {
            answered += 1;
        }
    }
    ON.with(|o| o.set(false));
    assert_eq!(answered, 2048, "half the frames are answerable");
    assert_eq!(COUNT.with(|c| c.replace(0)), 0, "allocations");
}
