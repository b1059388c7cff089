import GlimpseSynth

/// Scenes of every layout, placement and relation, from fixed seeds.
func calibrationItems() -> [SyntheticDataset.Item] {
    [1, 2, 99].flatMap { seed in
        let dataset = SyntheticDataset(count: 400, seed: UInt64(seed))
        return (0..<400).map { dataset.item($0) }
    }
}
