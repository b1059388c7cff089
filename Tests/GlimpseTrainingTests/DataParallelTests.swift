import GlimpseDistributed
import GlimpseTraining
import Testing

/// The parts of data-parallel training that need no second process: who takes which images,
/// and how a process learns whether a launcher started it as one rank of many. The ranks
/// themselves are tested under mpirun (GlimpseToolTests' DataParallelTrainingTests).
@Suite("Data-parallel training: shares and launchers")
struct DataParallelTests {
    @Test("the ranks' shares of a batch are disjoint, cover it and differ by at most one image, dealt in turn")
    func shares() {
        for ranks in 1...5 {
            for count in 0...23 {
                let shares = (0..<ranks).map { BatchShare(rank: $0, ranks: ranks).positions(of: count) }
                #expect(shares.flatMap { $0 }.sorted() == Array(0..<count))
                let sizes = shares.map(\.count)
                #expect(sizes.max()! - sizes.min()! <= 1)
            }
        }
        // A batch is sorted by caption length: dealt in turn, each rank gets short and long ones alike.
        #expect(BatchShare(rank: 1, ranks: 2).positions(of: 8) == [1, 3, 5, 7])
    }

    @Test("the launcher's variables say whether this process is one rank of many, and of which launcher")
    func launchers() {
        #expect(ProcessGroup.launch(environment: [:]) == .alone)
        #expect(ProcessGroup.launch(environment: ["OMPI_COMM_WORLD_RANK": "1", "OMPI_COMM_WORLD_SIZE": "4"])
                == .mpi(rank: 1, size: 4, launcher: "Open MPI (mpirun)"))
        #expect(ProcessGroup.launch(environment: ["PMIX_RANK": "3", "SLURM_NTASKS": "8", "SLURM_PROCID": "3"])
                == .mpi(rank: 3, size: 8, launcher: "PMIx (srun --mpi=pmix)"))
        // One task of srun alone, or of MPICH's launcher: separate processes this build cannot join.
        guard case .foreign(_, 8, _, let advice) = ProcessGroup.launch(environment: ["SLURM_PROCID": "2", "SLURM_NTASKS": "8", "SLURM_STEP_ID": "0"]) else {
            Issue.record("srun without MPI is not an MPI job")
            return
        }
        #expect(advice.contains("srun --mpi=pmix"))
        guard case .foreign = ProcessGroup.launch(environment: ["PMI_RANK": "0", "PMI_SIZE": "2"]) else {
            Issue.record("MPICH's launcher is not Open MPI's")
            return
        }
        // A single srun task is alone; so is a batch script's shell, which has the job's task count but no step.
        #expect(ProcessGroup.launch(environment: ["SLURM_PROCID": "0", "SLURM_NTASKS": "1", "SLURM_STEP_ID": "0"]) == .alone)
        #expect(ProcessGroup.launch(environment: ["SLURM_PROCID": "0", "SLURM_NTASKS": "8"]) == .alone)
        #expect(ProcessGroup.launch(environment: ["SLURM_PROCID": "0", "SLURM_NTASKS": "8", "SLURM_STEP_ID": "4294967291"]) == .alone)
    }

    @Test("alone, the group is the single process and its collectives change nothing; a foreign launcher is refused")
    func joining() throws {
        let group = try ProcessGroup.joining(environment: [:])
        #expect(group.size == 1 && group.rank == 0 && !group.isDistributed)
        var values: [Float] = [1, 2]
        try group.sum(&values, what: "a test")
        #expect(values == [1, 2])
        #expect(try group.sameOnEveryRank(42, what: "a test"))
        #expect(throws: DistributedError.self) { try ProcessGroup.joining(environment: ["SLURM_PROCID": "0", "SLURM_NTASKS": "2", "SLURM_STEP_ID": "3"]) }
    }
}
