//! xskit's records of what it attached and for whom: the pins and files
//! `xskit load` keeps ([`state`]), the namespace they belong to
//! ([`identity`]), the processes behind them ([`process`]) and who
//! holds the program on an interface ([`owner`]), made in directories that
//! other commands may remove when empty ([`made`]). The operator commands
//! write them; every command that attaches reads them, to name what holds
//! an interface.

pub mod identity;
pub mod made;
pub mod owner;
pub mod process;
pub mod state;
