import GlimpseData
import GlimpseImage
import GlimpseText
import Testing

@Suite("Inspecting a dataset before training")
struct DatasetInspectionTests {
    @Test("counts splits, lists unusable images, measures the vocabulary and unknown words")
    func report() throws {
        let folder = try DatasetFolder()
        try folder.write("broken", to: "Images/e.png")
        for name in ["a", "b", "c", "d"] {
            try PNGWriter.write(RGBImage(width: 4, height: 4, fill: (1, 2, 3)), to: folder.path + "/Images/\(name).png")
        }
        try folder.write("""
            image,caption
            a.png,a red dog runs
            a.png,a red dog
            b.png,a dog sits
            c.png,a zebra eats grass
            d.png,
            e.png,a dog
            f.png,a cat
            """, to: "captions.txt")
        let dataset = try DatasetLoader().load(folder.path)
        let inspection = DatasetInspection.inspect(dataset, vocabularyRule: VocabularyRule(minimumCount: 2, lowersMinimumCount: false))
        let total = DatasetSplit.allCases.reduce(0) { $0 + (inspection.splits[$1]?.images ?? 0) }
        #expect(total == 5)  // d.png has no caption left
        #expect(Set(inspection.unusableImages.map(\.path)) == [folder.path + "/Images/e.png", folder.path + "/Images/f.png"])
        #expect(inspection.problems.map(\.kind) == [.emptyCaption])
        #expect(inspection.lengthCounts[2] == 2 && inspection.lengthCounts[4] == 2)
        #expect(inspection.lines().contains("empty captions dropped: 1"))
        #expect(inspection.vocabulary.minimumCount == 2)
        #expect(inspection.vocabulary.unknownRate >= 0 && inspection.vocabulary.unknownRate <= 1)
    }
}
