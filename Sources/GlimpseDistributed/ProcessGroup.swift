import Foundation
#if MPI
import CMPI
#endif

/// The processes of one job, as a launcher (`mpirun`, Slurm's `srun`) started them: this process's
/// rank among `size`, and the collective operations data-parallel training needs. The one place
/// MPI is called; a build without the `MPI` trait (no Open MPI at build time) knows only the
/// single process.
///
/// Every collective is called by every rank in the same order, from one thread. While one is
/// under way a watchdog thread watches its clock: a rank that gets no answer within its timeout
/// (a peer stopped, lost or hung) says so and aborts the whole job, rather than waiting forever.
/// A peer that dies is noticed sooner by the launcher itself, which ends the others. Only the
/// exchanges inside a training step are timed (`timed`): the waits while rank 0 prepares the run,
/// fills the cache, validates or saves are not.
public final class ProcessGroup: @unchecked Sendable {
    /// This process's rank, 0 ..< size; rank 0 writes (checkpoints, logs) and validates.
    public let rank: Int
    public let size: Int
    /// Who started the processes, for messages ("Open MPI (mpirun)"); "one process" alone.
    public let launcher: String
    /// Seconds spent in collectives so far (waiting for the slowest rank included).
    public private(set) var communicationSeconds = 0.0

    private let watchdog: Watchdog?
    /// MPI was initialised (also for a job of one rank, `mpirun -np 1`, which must finalise it too).
    private let joinedMPI: Bool

    /// The single process: every collective is the identity.
    public static let single = ProcessGroup(rank: 0, size: 1, launcher: "one process", watchdog: nil, joinedMPI: false)

    private init(rank: Int, size: Int, launcher: String, watchdog: Watchdog?, joinedMPI: Bool) {
        self.rank = rank
        self.size = size
        self.launcher = launcher
        self.watchdog = watchdog
        self.joinedMPI = joinedMPI
    }

    /// More than one process.
    public var isDistributed: Bool { size > 1 }
    /// The rank that writes and validates.
    public var isLeader: Bool { rank == 0 }

    // MARK: - Joining the job

    /// How the environment says this process was started: alone, or as one rank of a job.
    public enum Launch: Equatable, Sendable {
        case alone
        /// Started by Open MPI's mpirun (or an srun that speaks PMIx to Open MPI): `size` ranks.
        case mpi(rank: Int, size: Int, launcher: String)
        /// Started as one of several tasks by a launcher this build cannot join (MPICH's, or srun without MPI).
        case foreign(rank: Int, size: Int, launcher: String, advice: String)
    }

    /// Reads the launcher's variables: Open MPI's `OMPI_COMM_WORLD_RANK`/`SIZE`, PMIx's `PMIX_RANK`
    /// (srun --mpi=pmix) with Slurm's task count, MPICH's `PMI_RANK`/`PMI_SIZE`, and srun's
    /// `SLURM_PROCID`/`SLURM_NTASKS` of a job step (`SLURM_STEP_ID`) alone.
    public static func launch(environment: [String: String]) -> Launch {
        func integer(_ name: String) -> Int? { environment[name].flatMap { Int($0.trimmingCharacters(in: .whitespaces)) } }
        if let size = integer("OMPI_COMM_WORLD_SIZE"), let rank = integer("OMPI_COMM_WORLD_RANK") {
            return .mpi(rank: rank, size: size, launcher: "Open MPI (mpirun)")
        }
        if let rank = integer("PMIX_RANK") {
            let size = integer("SLURM_NTASKS") ?? integer("PMIX_SIZE") ?? 0
            return .mpi(rank: rank, size: size, launcher: "PMIx (srun --mpi=pmix)")
        }
        if let size = integer("PMI_SIZE"), let rank = integer("PMI_RANK"), size > 1 {
            return .foreign(rank: rank, size: size, launcher: "MPICH's launcher (PMI_RANK \(rank) of PMI_SIZE \(size))",
                            advice: "this glimpse joins Open MPI jobs only: start it with Open MPI's mpirun")
        }
        // A task that srun started (a step of its own: a batch script's shell has the task count too,
        // but no step, or Slurm's special step ids from 0xFFFFFFF0 up).
        if let size = integer("SLURM_NTASKS"), let rank = integer("SLURM_PROCID"), size > 1,
           let step = integer("SLURM_STEP_ID"), step < 0xFFFF_FFF0 {
            return .foreign(rank: rank, size: size, launcher: "srun (SLURM_PROCID \(rank) of SLURM_NTASKS \(size))",
                            advice: "srun started separate processes that do not talk to each other: "
                                + "use srun --mpi=pmix (or mpirun inside the allocation)")
        }
        return .alone
    }

    /// The group this process belongs to: `single` when started alone (MPI is then never
    /// initialised), else this rank of the MPI job, initialised here. `peerTimeout`: seconds a
    /// collective may wait before the watchdog ends the job.
    public static func joining(environment: [String: String] = ProcessInfo.processInfo.environment,
                               peerTimeout: Double = 600) throws(DistributedError) -> ProcessGroup {
        switch launch(environment: environment) {
        case .alone:
            return .single
        case .foreign(_, let size, let launcher, let advice):
            throw .foreignLauncher(launcher: launcher, size: size, advice: advice)
        case .mpi(_, let size, let launcher):
            #if MPI
            return try initialized(launcher: launcher, peerTimeout: peerTimeout)
            #else
            throw .builtWithoutMPI(launcher: launcher, size: size)
            #endif
        }
    }

    #if MPI
    private static func initialized(launcher: String, peerTimeout: Double) throws(DistributedError) -> ProcessGroup {
        var provided: Int32 = 0
        try check("MPI_Init_thread", MPI_Init_thread(nil, nil, glimpse_mpi_thread_multiple(), &provided))
        let world = glimpse_mpi_comm_world()
        // Errors come back as codes (said, then the job aborted) instead of killing the process unexplained.
        try check("MPI_Comm_set_errhandler", MPI_Comm_set_errhandler(world, glimpse_mpi_errors_return()))
        var rank: Int32 = 0, size: Int32 = 0
        try check("MPI_Comm_rank", MPI_Comm_rank(world, &rank))
        try check("MPI_Comm_size", MPI_Comm_size(world, &size))
        let watchdog = Watchdog(rank: Int(rank), size: Int(size), timeout: peerTimeout,
                                canAbort: provided >= glimpse_mpi_thread_multiple())
        return ProcessGroup(rank: Int(rank), size: Int(size), launcher: launcher, watchdog: watchdog, joinedMPI: true)
    }

    private static func check(_ operation: String, _ code: Int32) throws(DistributedError) {
        guard code != glimpse_mpi_success() else { return }
        var buffer = [CChar](repeating: 0, count: Int(glimpse_mpi_max_error_string()) + 1)
        var length: Int32 = 0
        MPI_Error_string(code, &buffer, &length)
        throw .mpi(operation: operation, message: String(decoding: buffer.prefix(Int(length)).map { UInt8(bitPattern: $0) },
                                                         as: UTF8.self))
    }
    #endif

    /// Leaves the job cleanly (every rank, at the end): MPI_Finalize.
    public func finish() {
        guard joinedMPI else { return }
        watchdog?.stop()
        #if MPI
        MPI_Finalize()
        #endif
    }

    /// Says `message` on standard error as this rank's ("glimpse: rank 1 of 2: …"), then ends the job.
    public func abort(saying message: String, code: Int32 = 1) -> Never {
        FileHandle.standardError.write(Data("glimpse: rank \(rank) of \(size): \(message)\n".utf8))
        abort(code: code)
    }

    /// Ends every rank of the job now, with `code` as the launcher's exit status (after this rank
    /// has said why): for an error on one rank, which the others, waiting in a collective, cannot see.
    public func abort(code: Int32) -> Never {
        #if MPI
        if joinedMPI { MPI_Abort(glimpse_mpi_comm_world(), code) }
        #endif
        Foundation.exit(code)
    }

    // MARK: - Collectives

    /// Element-wise sum over the ranks, in place; every rank gets the same sums. `what` names the
    /// exchange in messages. `timed`: under the watchdog, for the exchanges inside a training step,
    /// where every rank arrives within a step's time of the others (not the waits while rank 0
    /// prepares the run, fills the cache or validates, which may take hours).
    public func sum(_ values: inout [Float], what: String, timed: Bool = false) throws(DistributedError) {
        guard isDistributed else { return }
        #if MPI
        try allreduce(&values, glimpse_mpi_float(), glimpse_mpi_sum(), what: what, timed: timed)
        #endif
    }

    /// As `sum`, in double precision (statistics whose sums must not lose digits).
    public func sum(_ values: inout [Double], what: String, timed: Bool = false) throws(DistributedError) {
        guard isDistributed else { return }
        #if MPI
        try allreduce(&values, glimpse_mpi_double(), glimpse_mpi_sum(), what: what, timed: timed)
        #endif
    }

    /// Whether every rank holds the same `value` (a digest of the model, say).
    public func sameOnEveryRank(_ value: UInt64, what: String) throws(DistributedError) -> Bool {
        guard isDistributed else { return true }
        // The largest of (high, low, −high, −low) over the ranks, 32 bits per part (exact in a double):
        // the maximum and, negated, the minimum of each part; all equal only if every rank's value is.
        let (high, low) = (Double(value >> 32), Double(value & 0xFFFF_FFFF))
        var parts = [high, low, -high, -low]
        #if MPI
        try allreduce(&parts, glimpse_mpi_double(), glimpse_mpi_max(), what: what, timed: false)
        #endif
        return parts[0] == -parts[2] && parts[1] == -parts[3]
    }

    /// Rank 0's bytes, on every rank (`bytes` is replaced on the others). Not timed: the others
    /// wait here while rank 0 validates.
    public func broadcast(_ bytes: inout [UInt8], what: String) throws(DistributedError) {
        guard isDistributed else { return }
        #if MPI
        var count: [Int32] = [Int32(bytes.count)]
        try collective(what, timed: false) {
            MPI_Bcast(&count, 1, glimpse_mpi_int(), 0, glimpse_mpi_comm_world())
        }
        if !isLeader { bytes = [UInt8](repeating: 0, count: Int(count[0])) }
        try collective(what, timed: false) {
            bytes.withUnsafeMutableBufferPointer { buffer in
                MPI_Bcast(buffer.baseAddress, count[0], glimpse_mpi_byte(), 0, glimpse_mpi_comm_world())
            }
        }
        #endif
    }

    #if MPI
    /// `values` combined element-wise over the ranks by `operation`, in place.
    private func allreduce<Element>(_ values: inout [Element], _ datatype: MPI_Datatype, _ operation: MPI_Op, what: String,
                                    timed: Bool) throws(DistributedError) {
        try collective(what, timed: timed) {
            values.withUnsafeMutableBufferPointer { buffer in
                MPI_Allreduce(glimpse_mpi_in_place(), buffer.baseAddress, Int32(buffer.count), datatype, operation, glimpse_mpi_comm_world())
            }
        }
    }

    /// Runs one MPI collective under the watchdog (when `timed`), adding its time to `communicationSeconds`.
    private func collective(_ what: String, timed: Bool, _ call: () -> Int32) throws(DistributedError) {
        let start = DispatchTime.now().uptimeNanoseconds
        if timed { watchdog?.begin(what) }
        let code = call()
        if timed { watchdog?.end() }
        communicationSeconds += Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        try Self.check(what, code)
    }
    #endif
}

/// What can go wrong in joining or talking to the other ranks.
public enum DistributedError: Error, Equatable, Sendable, CustomStringConvertible {
    /// Started as one of `size` ranks, by a build without MPI.
    case builtWithoutMPI(launcher: String, size: Int)
    /// Started as one of `size` tasks by a launcher this build cannot join.
    case foreignLauncher(launcher: String, size: Int, advice: String)
    /// An MPI call failed: MPI's own message.
    case mpi(operation: String, message: String)
    /// Another rank failed at `phase` (its own message says why).
    case peerFailed(phase: String)
    /// The ranks disagree on something they must share (the model, the data).
    case ranksDiffer(what: String, advice: String)

    public var description: String {
        switch self {
        case .builtWithoutMPI(let launcher, let size):
            "started by \(launcher) as one of \(size) processes, but this glimpse was built without MPI: install Open MPI "
                + "(Debian: libopenmpi-dev openmpi-bin, or bash Scripts/setup.sh --mpi) and build again (swift build picks it up; "
                + "swift build --traits MPI insists on it)"
        case .foreignLauncher(let launcher, let size, let advice):
            "started by \(launcher) as one of \(size) processes: \(advice)"
        case .mpi(let operation, let message):
            "MPI failed in \(operation): \(message)"
        case .peerFailed(let phase):
            "stopped because another rank failed while \(phase) (its message says why)"
        case .ranksDiffer(let what, let advice):
            "the ranks hold different \(what): \(advice)"
        }
    }
}

/// Watches the collective under way from a thread of its own: one that lasts longer than
/// `timeout` means a peer is stopped, lost or hung; the rank says so and aborts the job.
final class Watchdog: @unchecked Sendable {
    private let rank: Int
    private let size: Int
    private let timeout: Double
    private let canAbort: Bool
    private let lock = NSLock()
    private var current: (what: String, since: UInt64)?
    private var stopped = false

    init(rank: Int, size: Int, timeout: Double, canAbort: Bool) {
        self.rank = rank
        self.size = size
        self.timeout = timeout
        self.canAbort = canAbort
        let thread = Thread { [self] in watch() }
        thread.name = "glimpse.mpi-watchdog"
        thread.start()
    }

    func begin(_ what: String) {
        lock.lock()
        current = (what, DispatchTime.now().uptimeNanoseconds)
        lock.unlock()
    }

    func end() {
        lock.lock()
        current = nil
        lock.unlock()
    }

    func stop() {
        lock.lock()
        stopped = true
        lock.unlock()
    }

    private func watch() {
        while true {
            Thread.sleep(forTimeInterval: min(1, max(0.05, timeout / 10)))
            lock.lock()
            let (done, waiting) = (stopped, current)
            lock.unlock()
            if done { return }
            guard let waiting else { continue }
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - waiting.since) / 1e9
            guard seconds >= timeout else { continue }
            let message = "glimpse: rank \(rank) of \(size): no answer from the other ranks for \(Int(seconds.rounded())) s "
                + "(\(waiting.what)); a rank is stopped, lost or hung, so the job stops here (the last checkpoint set is "
                + "kept; continue with --resume, with any number of ranks; --peer-timeout sets this limit)\n"
            FileHandle.standardError.write(Data(message.utf8))
            #if MPI
            if canAbort { MPI_Abort(glimpse_mpi_comm_world(), 1) }
            #endif
            // Without MPI's thread support the abort cannot be called from here: end this rank, and
            // its launcher ends the rest.
            Foundation.abort()
        }
    }
}
