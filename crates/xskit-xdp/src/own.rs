//! The caller's own XDP program: loaded from an ELF object or taken from an
//! aya [`Ebpf`], attached like ours, with sockets registered in its XSKMAP.

use crate::loader::XdpProgram;
use crate::LoaderError;
use aya::maps::Map;
use aya::programs::{ProgramError, Xdp};
use aya::{Ebpf, EbpfLoader};

impl XdpProgram {
    /// Takes the caller's own program: the XDP function `function` of
    /// `ebpf` (loaded into the kernel here unless it already is), with the
    /// XSKMAP named `xskmap` (if any) to [`register`](Self::register)
    /// sockets in. Attaching it is then as for ours: a BPF link owned by
    /// the returned value. Since it may take any frame, it is refused on
    /// the default-route interface unless `force` is given to `attach`.
    ///
    /// # Errors
    /// [`LoaderError::Load`] if `function` is not an XDP program of `ebpf`
    /// or the kernel refuses it; [`LoaderError::Map`] if `xskmap` names no
    /// XSKMAP of the object.
    ///
    /// # Examples
    /// ```no_run
    /// use xskit_xdp::{HookChoice, XdpProgram};
    /// // An object of the caller's, with `SEC("xdp") int my_prog(...)` and
    /// // an XSKMAP named `my_xsks`.
    /// let ebpf = aya::Ebpf::load_file("my_prog.o")?;
    /// let mut prog = XdpProgram::from_ebpf(ebpf, "my_prog", Some("my_xsks"))?;
    /// prog.attach("eth1", HookChoice::Auto, false)?;
    /// // prog.register(0, &socket)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_ebpf(
        mut ebpf: Ebpf,
        function: &str,
        xskmap: Option<&str>,
    ) -> Result<XdpProgram, LoaderError> {
        let load_err = |source: anyhow::Error| LoaderError::Load {
            program: function.to_string(),
            source,
        };
        let xdp: &mut Xdp = ebpf
            .program_mut(function)
            .ok_or_else(|| {
                load_err(anyhow::anyhow!(
                    "the object has no program named {function}"
                ))
            })?
            .try_into()
            .map_err(|e: ProgramError| {
                load_err(anyhow::anyhow!("{function} is not an XDP program: {e}"))
            })?;
        if xdp.fd().is_err() {
            xdp.load().map_err(|e| load_err(e.into()))?;
        }
        if let Some(name) = xskmap {
            match ebpf.map(name) {
                Some(Map::XskMap(_)) => {}
                Some(_) => {
                    return Err(load_err(anyhow::anyhow!("its map {name} is not an XSKMAP")))
                }
                None => {
                    return Err(crate::loader::missing_map(function, name, "socket map"));
                }
            }
        }
        Ok(XdpProgram {
            ebpf,
            function: function.to_string(),
            builtin: None,
            xskmap: xskmap.map(str::to_string),
            attachments: Vec::new(),
            component: None,
            join_only: false,
            counted: true,
        })
    }

    /// Loads the caller's own object from its ELF bytes and takes its
    /// program `function` as [`from_ebpf`](Self::from_ebpf) does; the
    /// XSKMAP `xskmap` (if any) is sized to `queues` slots (the
    /// interface's rx queue count); no other map is touched.
    ///
    /// # Errors
    /// As [`from_ebpf`](Self::from_ebpf), and [`LoaderError::Load`] if the
    /// object does not parse or the kernel refuses one of its maps.
    pub fn load_elf(
        elf: &[u8],
        function: &str,
        xskmap: Option<&str>,
        queues: u32,
    ) -> Result<XdpProgram, LoaderError> {
        let mut loader = EbpfLoader::new();
        if let Some(name) = xskmap {
            loader.map_max_entries(name, queues.max(1));
        }
        let ebpf = loader.load(elf).map_err(|e| LoaderError::Load {
            program: function.to_string(),
            source: e.into(),
        })?;
        XdpProgram::from_ebpf(ebpf, function, xskmap)
    }
}
