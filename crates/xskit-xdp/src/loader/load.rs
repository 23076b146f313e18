//! Loading a built-in program: [`XdpProgram::load`] and its variants, all
//! through [`LoadOptions`].

use super::{kernel_too_old, XdpProgram, XSKMAP};
use crate::error::LoaderError;
use crate::multiprog::RunConfig;
use crate::programs::Program;
use aya::programs::{ProgramError, Xdp};
use aya::EbpfLoader;
use std::path::Path;

/// The read-only switch of the redirect programs' counters.
const COUNTING: &str = "xskit_counting";

/// How [`XdpProgram::load_with`] loads a built-in program.
#[derive(Clone, Copy, Debug, Default)]
pub struct LoadOptions<'a> {
    pin_dir: Option<&'a Path>,
    component: Option<RunConfig>,
    uncounted: bool,
}

impl<'a> LoadOptions<'a> {
    /// Maps the object marks "pinned by name" (the filter's rule maps) are
    /// pinned in, or reused from, `dir`.
    pub fn pins(mut self, dir: Option<&'a Path>) -> Self {
        self.pin_dir = dir;
        self
    }

    /// To go in a dispatcher with `run`'s priority and chain-call actions
    /// (see [`XdpProgram::load_component`]).
    pub fn component(mut self, run: RunConfig) -> Self {
        self.component = Some(run);
        self
    }

    /// Without the per-action counters, where the program can leave them
    /// out ([`Program::counts_optionally`]: the redirect programs): the
    /// kernel then drops their code, and each frame costs the redirect
    /// alone (30 fewer BPF instructions a frame). For callers that never
    /// read [`XdpProgram::counters`], which then fails. Other programs
    /// count anyway.
    pub fn uncounted(mut self) -> Self {
        self.uncounted = true;
        self
    }
}

impl XdpProgram {
    /// Loads `program` into the kernel. `queues` sizes its XSKMAP (use the
    /// interface's rx queue count; ignored for programs without one).
    ///
    /// # Errors
    ///
    /// [`LoaderError::Load`] if the kernel refuses the object or the
    /// program: without the capabilities, or too old for it (one line
    /// naming the missing helper or feature), or with the verifier's log.
    pub fn load(program: Program, queues: u32) -> Result<XdpProgram, LoaderError> {
        XdpProgram::load_with_pins(program, queues, None)
    }

    /// Like [`XdpProgram::load`]; maps the object marks "pinned by name"
    /// (the filter's rule maps) are pinned in, or reused from, `pin_dir`.
    pub fn load_with_pins(
        program: Program,
        queues: u32,
        pin_dir: Option<&std::path::Path>,
    ) -> Result<XdpProgram, LoaderError> {
        XdpProgram::load_with(program, queues, LoadOptions::default().pins(pin_dir))
    }

    /// Loads `program` as `options` say: with its maps pinned, as a
    /// dispatcher's component, or without counters.
    ///
    /// # Errors
    ///
    /// As [`XdpProgram::load`].
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use xskit_xdp::{LoadOptions, Program, XdpProgram};
    ///
    /// // A forwarder that never reads the per-action counters.
    /// let p = XdpProgram::load_with(Program::Redirect, 4, LoadOptions::default().uncounted())?;
    /// assert!(!p.is_counted());
    /// # Ok::<(), xskit_xdp::LoaderError>(())
    /// ```
    pub fn load_with(
        program: Program,
        queues: u32,
        options: LoadOptions<'_>,
    ) -> Result<XdpProgram, LoaderError> {
        XdpProgram::load_as(program, queues, options)
    }

    /// Loads `program`'s object; its program too, unless it is to go in a
    /// dispatcher (`component`): an extension program is loaded against
    /// the dispatcher it is linked to, at attach.
    pub(crate) fn load_as(
        program: Program,
        queues: u32,
        options: LoadOptions<'_>,
    ) -> Result<XdpProgram, LoaderError> {
        let LoadOptions {
            pin_dir,
            component,
            uncounted,
        } = options;
        let counted = !(uncounted && program.counts_optionally());
        let load_err = |source: anyhow::Error| LoaderError::Load {
            program: program.to_string(),
            source,
        };
        let mut loader = EbpfLoader::new();
        if let Some(dir) = pin_dir {
            loader.default_map_pin_directory(dir);
        }
        if program.has_xskmap() {
            loader.map_max_entries(XSKMAP, queues.max(1));
        }
        if component.is_some() {
            loader.extension(program.function());
        }
        if !counted {
            // The object's read-only `xskit_counting`: the verifier drops
            // the counting code it guards.
            loader.override_global(COUNTING, &0u32, true);
        }
        let mut ebpf = loader.load(program.object()).map_err(|e| {
            let hint = if matches!(
                &e,
                aya::EbpfError::MapError(_) | aya::EbpfError::BtfError(_)
            ) {
                ""
            } else {
                " (loading BPF programs needs CAP_BPF and CAP_NET_ADMIN: run as root)"
            };
            load_err(anyhow::anyhow!("{e}{hint}"))
        })?;
        if component.is_some() {
            return Ok(XdpProgram {
                ebpf,
                function: program.function().to_string(),
                builtin: Some(program),
                xskmap: program.has_xskmap().then(|| XSKMAP.to_string()),
                attachments: Vec::new(),
                component,
                join_only: false,
                counted,
            });
        }
        let xdp: &mut Xdp = ebpf
            .program_mut(program.function())
            .ok_or_else(|| {
                load_err(anyhow::anyhow!(
                    "function {} missing from its object",
                    program.function()
                ))
            })?
            .try_into()
            .map_err(|e: ProgramError| load_err(e.into()))?;
        xdp.load()
            .map_err(|e| load_err(kernel_too_old(program.is_frags_aware(), e)))?;
        Ok(XdpProgram {
            ebpf,
            function: program.function().to_string(),
            builtin: Some(program),
            xskmap: program.has_xskmap().then(|| XSKMAP.to_string()),
            attachments: Vec::new(),
            component: None,
            join_only: false,
            counted,
        })
    }
}
