//! xskit's dispatcher object against the configuration parser that reads
//! libxdp's: the `.rodata` the loader writes must parse to what was set.

use super::build::config_of;
use super::*;
use crate::dispatcher::{self, OWN_RETVAL_BIT};
use crate::dispatcher::{action_names, DispatcherConfig, V2_LEN};
use std::collections::HashMap;

/// The bytes of the object's `.rodata` after the loader's patch of
/// [`CONFIG_SYMBOL`], as aya hands them to the kernel.
fn patched_rodata(bytes: &[u8]) -> Vec<u8> {
    let mut obj = aya_obj::Object::parse(OBJECT).expect("xskit's dispatcher object parses");
    let mut globals = HashMap::new();
    globals.insert(CONFIG_SYMBOL, (bytes, true));
    obj.patch_map_data(globals)
        .expect("the symbol is in .rodata");
    let rodata: Vec<_> = obj
        .maps
        .iter()
        .filter(|(name, _)| name.starts_with(".rodata"))
        .collect();
    assert_eq!(rodata.len(), 1, "one .rodata map");
    rodata[0].1.data().to_vec()
}

#[test]
fn rodata_holds_only_the_configuration() {
    // Zeros as compiled: no magic, 124 bytes, nothing else in .rodata.
    let zero = patched_rodata(&[0u8; V2_LEN]);
    assert_eq!(zero.len(), V2_LEN);
}

#[test]
fn one_component_parses_as_set() {
    let c = {
        let mut c = DispatcherConfig {
            version: 2,
            num_progs_enabled: 1,
            is_xdp_frags: false,
            is_xdp_devbound: None,
            chain_call_actions: [0; SLOTS],
            run_prios: [0; SLOTS],
            program_flags: [0; SLOTS],
        };
        c.chain_call_actions[0] = CHAIN_ON_PASS | OWN_RETVAL_BIT;
        c.run_prios[0] = DEFAULT_PRIORITY;
        c
    };
    let data = patched_rodata(&c.to_bytes());
    assert_eq!(data[0], 236, "magic");
    assert_eq!(data[1], 2, "version");
    let parsed = DispatcherConfig::parse(&data).unwrap();
    assert_eq!(parsed, c);
    assert_eq!(action_names(parsed.chain_call_actions[0]), ["XDP_PASS"]);
    assert_eq!(parsed.run_prios[0], 50);
}

#[test]
fn three_components_in_order() {
    let prios = [(5, CHAIN_ON_PASS), (10, CHAIN_ON_PASS | 2), (50, 1 << 3)];
    let mut c = DispatcherConfig {
        version: 2,
        num_progs_enabled: 3,
        is_xdp_frags: false,
        is_xdp_devbound: None,
        chain_call_actions: [0; SLOTS],
        run_prios: [0; SLOTS],
        program_flags: [0; SLOTS],
    };
    for (i, (p, a)) in prios.iter().enumerate() {
        c.run_prios[i] = *p;
        c.chain_call_actions[i] = a | OWN_RETVAL_BIT;
    }
    c.program_flags[1] = 1 << 5;
    let parsed = DispatcherConfig::parse(&patched_rodata(&c.to_bytes())).unwrap();
    assert_eq!(parsed, c);
    assert_eq!(
        action_names(parsed.chain_call_actions[1]),
        ["XDP_DROP", "XDP_PASS"]
    );
    assert_eq!(action_names(parsed.chain_call_actions[2]), ["XDP_TX"]);
}

#[test]
fn config_of_sets_the_dispatchers_bit() {
    let runs = [
        (RunConfig::default(), 0),
        (
            RunConfig {
                priority: 7,
                chain_actions: 1 << 1,
            },
            1 << 5,
        ),
    ];
    let c = config_of(&runs, 2);
    assert_eq!(c.num_progs_enabled, 2);
    assert_eq!(
        c.chain_call_actions[..3],
        [CHAIN_ON_PASS | OWN_RETVAL_BIT, 2 | OWN_RETVAL_BIT, 0]
    );
    assert_eq!(c.run_prios[..3], [50, 7, 0]);
    assert_eq!(c.program_flags[..3], [0, 1 << 5, 0]);
    let parsed = DispatcherConfig::parse(&patched_rodata(&c.to_bytes())).unwrap();
    assert_eq!(parsed, c);
}

#[test]
fn stubs_and_entry_are_in_the_object() {
    use object::{Object as _, ObjectSymbol as _};
    let obj = aya_obj::Object::parse(OBJECT).unwrap();
    assert!(obj.programs.contains_key(dispatcher::PROGRAM_NAME));
    let elf = object::File::parse(OBJECT).unwrap();
    let names: Vec<&str> = elf.symbols().filter_map(|s| s.name().ok()).collect();
    for i in 0..SLOTS {
        let stub = format!("prog{i}");
        assert!(names.contains(&stub.as_str()), "{stub} missing");
    }
}
