import Foundation
import GlimpseCaptioning
import GlimpseImage
import GlimpseSupport

/// `--shard i/n`: file k of n by a hash of its path relative to the folder, so the split
/// is the same on every machine and every run, whatever the order files are found in.
struct Shard: Equatable {
    let index: Int
    let count: Int

    static let whole = Shard(index: 0, count: 1)

    /// "i/n" with 0 ≤ i < n.
    init?(_ text: String) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let index = Int(parts[0]), let count = Int(parts[1]), count >= 1,
              (0..<count).contains(index) else { return nil }
        self.init(index: index, count: count)
    }

    init(index: Int, count: Int) {
        self.index = index
        self.count = count
    }

    /// The share a scheduler gave this process, from its environment, and the variables it came
    /// from; nil when none is set. Checked in this order: a Slurm job array
    /// (`SLURM_ARRAY_TASK_ID` − `SLURM_ARRAY_TASK_MIN` of `SLURM_ARRAY_TASK_COUNT`: array ids need
    /// not start at 0), a Slurm job's tasks (`SLURM_PROCID` of `SLURM_NTASKS`, as `srun` sets them),
    /// Open MPI's ranks (`OMPI_COMM_WORLD_RANK` of `OMPI_COMM_WORLD_SIZE`, as `mpirun` sets them),
    /// then MPICH's (`PMI_RANK` of `PMI_SIZE`). A variable that is set but makes no share (a rank
    /// beyond the size, a word) is an error rather than a silent whole.
    static func fromEnvironment(_ environment: [String: String]) throws(ShardProblem) -> (shard: Shard, source: String)? {
        func share(_ indexName: String, _ countName: String, minimumName: String? = nil) throws(ShardProblem) -> (Shard, String)? {
            guard let indexText = environment[indexName] else { return nil }
            guard let countText = environment[countName] else {
                throw ShardProblem("\(indexName) is set (\(indexText)) but \(countName) is not")
            }
            let minimum = minimumName.flatMap { environment[$0] }.map { Int($0) } ?? 0
            guard let index = Int(indexText), let count = Int(countText), let minimum, count >= 1,
                  (0..<count).contains(index - minimum) else {
                throw ShardProblem("\(indexName)=\(indexText)" + (minimumName.flatMap { name in environment[name].map { " \(name)=\($0)" } } ?? "")
                                   + " \(countName)=\(countText) make no share i/n with 0 <= i < n")
            }
            let source = minimumName.map { "\(indexName) − \($0) of \(countName)" } ?? "\(indexName) of \(countName)"
            return (Shard(index: index - minimum, count: count), source)
        }
        if let found = try share("SLURM_ARRAY_TASK_ID", "SLURM_ARRAY_TASK_COUNT", minimumName: "SLURM_ARRAY_TASK_MIN") { return found }
        if let found = try share("SLURM_PROCID", "SLURM_NTASKS") { return found }
        if let found = try share("OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE") { return found }
        return try share("PMI_RANK", "PMI_SIZE")
    }

    func contains(relativePath: String) -> Bool {
        count == 1 || Int(Self.hash(relativePath) % UInt64(count)) == index
    }

    /// The variables `fromEnvironment` reads, for messages.
    static let environmentNames = "SLURM_ARRAY_TASK_ID/SLURM_ARRAY_TASK_COUNT, SLURM_PROCID/SLURM_NTASKS, "
        + "OMPI_COMM_WORLD_RANK/OMPI_COMM_WORLD_SIZE or PMI_RANK/PMI_SIZE"

    /// 64-bit FNV-1a of the name's bytes (`FileName`): fixed by definition, unlike Swift's seeded `Hasher`.
    static func hash(_ text: String) -> UInt64 { FNV1a.hash(FileName.bytes(text)) }
}

/// Why `--shard auto` found no share.
struct ShardProblem: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
