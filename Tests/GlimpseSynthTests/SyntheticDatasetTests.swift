import Foundation
import GlimpseData
import GlimpseImage
import GlimpseSynth
import Testing

@Suite("Synthetic captioned scenes")
struct SyntheticDatasetTests {
    @Test("the same seed gives the same scenes and captions; a larger count extends the dataset")
    func deterministic() {
        let small = SyntheticDataset(count: 5, seed: 42), large = SyntheticDataset(count: 50, seed: 42)
        for index in 0..<5 {
            #expect(small.item(index).scene == large.item(index).scene)
            #expect(small.item(index).captions == large.item(index).captions)
        }
        #expect(SyntheticDataset(count: 5, seed: 43).item(0).scene != small.item(0).scene)
        #expect(SceneRenderer.render(small.item(3).scene) == SceneRenderer.render(large.item(3).scene))
    }

    @Test("five differently phrased captions that name every object's colour and kind")
    func captions() {
        let dataset = SyntheticDataset(count: 200, seed: 1)
        var layouts = Set<String>()
        for index in 0..<200 {
            let item = dataset.item(index)
            #expect(item.captions.count == 5)
            #expect(Set(item.captions).count == 5, "\(item.captions)")
            for object in item.scene.objects {
                #expect(item.captions[0].contains("\(object.color.name) \(object.kind.rawValue)"), "\(item.captions[0])")
            }
            for caption in item.captions {
                #expect(!caption.contains("a orange") && !caption.contains("  "), "\(caption)")
            }
            switch item.scene.layout {
            case .single: layouts.insert("single")
            case .pair: layouts.insert("pair")
            case .row: layouts.insert("row")
            }
        }
        #expect(layouts == ["single", "pair", "row"])
    }

    @Test("relations in the captions hold in the picture")
    func relationsHold() {
        let dataset = SyntheticDataset(count: 300, seed: 9)
        for index in 0..<300 {
            let scene = dataset.item(index).scene
            switch scene.layout {
            case .pair(.leftOf): #expect(scene.objects[0].centerX < scene.objects[1].centerX)
            case .pair(.rightOf): #expect(scene.objects[0].centerX > scene.objects[1].centerX)
            case .pair(.above): #expect(scene.objects[0].centerY < scene.objects[1].centerY)
            case .pair(.below): #expect(scene.objects[0].centerY > scene.objects[1].centerY)
            case .row:
                #expect(scene.objects[0].centerX < scene.objects[1].centerX && scene.objects[1].centerX < scene.objects[2].centerX)
            case .single: break
            }
            for object in scene.objects {
                #expect(object.centerX - object.radius >= 0 && object.centerX + object.radius <= Double(scene.width))
                #expect(object.centerY - object.radius >= 0 && object.centerY + object.radius <= Double(scene.height))
            }
        }
    }

    @Test("an object's pixels carry its colour")
    func rendering() {
        let item = SyntheticDataset(count: 1, seed: 5).item(0)
        let image = SceneRenderer.render(item.scene)
        for object in item.scene.objects {
            let pixel = image[Int(object.centerX), Int(object.centerY)]
            #expect(abs(Int(pixel.red) - Int(object.color.red)) <= 13)
            #expect(abs(Int(pixel.green) - Int(object.color.green)) <= 13)
            #expect(abs(Int(pixel.blue) - Int(object.color.blue)) <= 13)
        }
    }

    @Test("written in the Flickr8k Kaggle layout, which the dataset reader reads back")
    func writesReadableDataset() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("glimpse-synth-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try SyntheticDataset(count: 12, seed: 3).write(to: folder)
        let dataset = try DatasetLoader().load(folder)
        #expect(dataset.format == .flickr8kKaggle)
        #expect(dataset.images.count == 12)
        #expect(dataset.images.allSatisfy { $0.captions.count == 5 })
        #expect(DatasetLoader.missingImages(in: dataset).isEmpty)
        let formats = try Set(dataset.images.map { try ImageDecoder().info(contentsOf: $0.path).format })
        #expect(formats == [.jpeg, .png])
        let row = try #require(dataset.images.first { $0.captions[0].contains(" , ") })
        #expect(row.captions[0].contains(" and "))
    }
}
