//! [`Program::RedirectPort`]: only TCP or UDP to chosen destination ports
//! (and, if asked, ICMP echo requests) go to the sockets; ARP, neighbour
//! discovery, ping and everything else stay with the kernel.

use crate::abi::PortKey;
use crate::filter::Proto;
use crate::loader::{map_err, missing_map, XdpProgram};
use crate::{LoaderError, Program};
use aya::maps::{Array, HashMap, MapData};

const PORTS: &str = "xsk_ports";
const CONFIG: &str = "xsk_port_config";

impl XdpProgram {
    /// Hands TCP or UDP segments to destination `port` to the registered
    /// sockets ([`Program::RedirectPort`]; up to 64 ports). Takes effect at
    /// once, attached or not.
    ///
    /// # Errors
    /// [`LoaderError::Map`] if this is not a port program, or its map is
    /// full.
    ///
    /// # Examples
    /// ```no_run
    /// use xskit_xdp::{filter::Proto, HookChoice, Program, XdpProgram};
    /// let mut prog = XdpProgram::load(Program::RedirectPort, 1)?;
    /// prog.redirect_port(Proto::Udp, 7)?;
    /// prog.attach("eth1", HookChoice::Auto, false)?;
    /// # Ok::<(), xskit_xdp::LoaderError>(())
    /// ```
    pub fn redirect_port(&mut self, proto: Proto, port: u16) -> Result<(), LoaderError> {
        self.ports()?
            .insert(key(proto, port), 1, 0)
            .map_err(map_err("adding the port"))
    }

    /// Stops handing segments to `port` to the sockets.
    ///
    /// # Errors
    /// [`LoaderError::Map`] if this is not a port program or the port was
    /// not there.
    pub fn unredirect_port(&mut self, proto: Proto, port: u16) -> Result<(), LoaderError> {
        self.ports()?
            .remove(&key(proto, port))
            .map_err(map_err("removing the port"))
    }

    /// Also hands ICMPv4 and ICMPv6 echo requests to the sockets (`true`),
    /// or leaves them to the kernel (`false`, the default).
    ///
    /// # Errors
    /// [`LoaderError::Map`] if this is not a port program.
    pub fn redirect_echo_requests(&mut self, on: bool) -> Result<(), LoaderError> {
        let map = self
            .ebpf
            .map_mut(CONFIG)
            .filter(|_| self.builtin.is_some_and(is_port_program))
            .ok_or_else(|| missing_map(&self.function, CONFIG, "port configuration"))?;
        let mut arr: Array<&mut MapData, u32> =
            Array::try_from(map).map_err(map_err("opening the port configuration"))?;
        arr.set(0, u32::from(on), 0)
            .map_err(map_err("writing the port configuration"))
    }

    fn ports(&mut self) -> Result<HashMap<&mut MapData, PortKey, u8>, LoaderError> {
        let map = self
            .ebpf
            .map_mut(PORTS)
            .filter(|_| self.builtin.is_some_and(is_port_program))
            .ok_or_else(|| missing_map(&self.function, PORTS, "port map"))?;
        HashMap::try_from(map).map_err(map_err("opening the port map"))
    }
}

fn is_port_program(p: Program) -> bool {
    matches!(p, Program::RedirectPort | Program::RedirectPortMultiBuffer)
}

/// The map's key: the IP protocol and the port in network byte order.
fn key(proto: Proto, port: u16) -> PortKey {
    PortKey {
        proto: match proto {
            Proto::Tcp => 6,
            Proto::Udp => 17,
        },
        dir: 0,
        port: port.to_be(),
    }
}
