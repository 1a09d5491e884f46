//! The listeners as netstat2 gives them, so `make bench` can time netstat2 beside
//! `portscope --once --json` in the same fixture (bench/run.py, issue 15).
//!
//!     netstat2_table [MODE]
//!
//! MODE is one of:
//!   netstat2            `get_sockets_info`: the socket table and the pids (default)
//!   netstat2-no-pids    `iterate_sockets_info_without_pids`: netstat2's table alone
//!   portscope-table     portscope's own table alone (`Collector::sockets`, listeners only)
//!   portscope-table-all the same with every state, as netstat2 always dumps
//!
//! Every mode prints one line per listener in the same words (`tcp 0.0.0.0:80 LISTEN
//! pids=1,2`), so the timings differ only by how the rows were read. netstat2 has no UDP state:
//! every UDP row it gives counts as a listener.
//!
//! Linux only: there portscope reads sock_diag itself and netstat2 is a dev-dependency; on
//! macOS and Windows portscope's table *is* netstat2's.

#[cfg(target_os = "linux")]
fn main() -> std::process::ExitCode {
    linux::main()
}

#[cfg(not(target_os = "linux"))]
fn main() -> std::process::ExitCode {
    eprintln!("netstat2_table: Linux only (elsewhere portscope's table is netstat2's)");
    std::process::ExitCode::from(2)
}

#[cfg(target_os = "linux")]
mod linux {
    use std::io::{self, BufWriter, Write};
    use std::net::IpAddr;
    use std::process::ExitCode;

    use netstat2::{AddressFamilyFlags, ProtocolFlags, ProtocolSocketInfo, SocketInfo, TcpState};
    use portscope::collect::Collector;
    use portscope::model::{Selection, endpoint};

    const USAGE: &str = "usage: netstat2_table [netstat2 | netstat2-no-pids | portscope-table | portscope-table-all]";

    /// One listener as every mode prints it.
    struct Line {
        proto: &'static str,
        local: IpAddr,
        port: u16,
        state: &'static str,
        pids: Vec<u32>,
    }

    pub fn main() -> ExitCode {
        let mode = std::env::args().nth(1).unwrap_or_else(|| "netstat2".into());
        let lines = match mode.as_str() {
            "netstat2" => netstat2_lines(true),
            "netstat2-no-pids" => netstat2_lines(false),
            "portscope-table" => portscope_lines(false),
            "portscope-table-all" => portscope_lines(true),
            _ => {
                eprintln!("{USAGE}");
                return ExitCode::from(2);
            }
        };
        let written = lines
            .and_then(|lines| print(&lines).map_err(|e| format!("cannot write the table: {e}")));
        match written {
            Ok(()) => ExitCode::SUCCESS,
            Err(message) => {
                eprintln!("netstat2_table: {message}");
                ExitCode::FAILURE
            }
        }
    }

    /// netstat2's rows, kept as listeners: TCP in LISTEN and every UDP socket.
    fn netstat2_lines(with_pids: bool) -> Result<Vec<Line>, String> {
        let families = AddressFamilyFlags::IPV4 | AddressFamilyFlags::IPV6;
        let protocols = ProtocolFlags::TCP | ProtocolFlags::UDP;
        let rows: Result<Vec<SocketInfo>, _> = match with_pids {
            true => netstat2::get_sockets_info(families, protocols),
            false => netstat2::iterate_sockets_info_without_pids(families, protocols)
                .and_then(|rows| rows.collect()),
        };
        // netstat2's Display says only "Failed to call ffi"; its Debug names the OS error.
        let rows = rows.map_err(|e| format!("netstat2: {e:?}"))?;
        Ok(rows.into_iter().filter_map(netstat2_line).collect())
    }

    fn netstat2_line(info: SocketInfo) -> Option<Line> {
        let (proto, state) = match &info.protocol_socket_info {
            ProtocolSocketInfo::Tcp(tcp) if tcp.state == TcpState::Listen => ("tcp", "LISTEN"),
            ProtocolSocketInfo::Tcp(_) => return None,
            ProtocolSocketInfo::Udp(_) => ("udp", "UNCONN"),
        };
        Some(Line {
            proto,
            local: info.local_addr(),
            port: info.local_port(),
            state,
            pids: info.associated_pids,
        })
    }

    /// portscope's table without owners, through the same collector the program uses.
    fn portscope_lines(all_states: bool) -> Result<Vec<Line>, String> {
        let selection = Selection {
            all_states,
            ..Selection::LISTENERS
        };
        let read = Collector::new()
            .sockets(selection, &|s| s.is_listener())
            .map_err(|e| e.to_string())?;
        let lines = read.sockets.iter().map(|s| Line {
            proto: s.proto.as_str(),
            local: s.local_addr,
            port: s.port,
            state: s.state.as_str(),
            pids: s.owner.pids().to_vec(),
        });
        Ok(lines.collect())
    }

    fn print(lines: &[Line]) -> io::Result<()> {
        let mut out = BufWriter::new(io::stdout().lock());
        for line in lines {
            let pids: Vec<String> = line.pids.iter().map(u32::to_string).collect();
            writeln!(
                out,
                "{} {} {} pids={}",
                line.proto,
                endpoint(&line.local, line.port),
                line.state,
                pids.join(",")
            )?;
        }
        out.flush()
    }
}
