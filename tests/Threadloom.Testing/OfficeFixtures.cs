using DocumentFormat.OpenXml;
using DocumentFormat.OpenXml.Packaging;
using DocumentFormat.OpenXml.Presentation;
using A = DocumentFormat.OpenXml.Drawing;

namespace Threadloom.Testing;

/// <summary>
/// Writes small real Office documents with DocumentFormat.OpenXml, the way an authoring tool lays them out (a
/// presentation has a theme, a slide master and a layout, and every slide uses that layout), so extraction is tested on
/// the package structure found in the wild rather than on hand-zipped XML.
/// </summary>
public static class OfficeFixtures
{
    /// <summary>A .pptx with one slide per entry: a title shape, then a body shape with one paragraph per line.</summary>
    public static byte[] Presentation(IReadOnlyList<(string Title, IReadOnlyList<string> Lines)> slides)
    {
        using var buffer = new MemoryStream();
        using (var document = PresentationDocument.Create(buffer, PresentationDocumentType.Presentation))
        {
            var presentationPart = document.AddPresentationPart();
            presentationPart.Presentation = new Presentation();

            var masterPart = presentationPart.AddNewPart<SlideMasterPart>("rId1");
            var layoutPart = masterPart.AddNewPart<SlideLayoutPart>("rId1");
            layoutPart.SlideLayout = new SlideLayout(new CommonSlideData(EmptyShapeTree()), new ColorMapOverride(new A.MasterColorMapping()));
            layoutPart.AddPart(masterPart);
            masterPart.SlideMaster = new SlideMaster(
                new CommonSlideData(EmptyShapeTree()),
                new ColorMap
                {
                    Background1 = A.ColorSchemeIndexValues.Light1, Text1 = A.ColorSchemeIndexValues.Dark1,
                    Background2 = A.ColorSchemeIndexValues.Light2, Text2 = A.ColorSchemeIndexValues.Dark2,
                    Accent1 = A.ColorSchemeIndexValues.Accent1, Accent2 = A.ColorSchemeIndexValues.Accent2,
                    Accent3 = A.ColorSchemeIndexValues.Accent3, Accent4 = A.ColorSchemeIndexValues.Accent4,
                    Accent5 = A.ColorSchemeIndexValues.Accent5, Accent6 = A.ColorSchemeIndexValues.Accent6,
                    Hyperlink = A.ColorSchemeIndexValues.Hyperlink, FollowedHyperlink = A.ColorSchemeIndexValues.FollowedHyperlink,
                },
                new SlideLayoutIdList(new SlideLayoutId { Id = 2147483649U, RelationshipId = "rId1" }));
            var themePart = masterPart.AddNewPart<ThemePart>("rId2");
            themePart.Theme = Theme();
            presentationPart.AddPart(themePart, "rId2");

            var slideIds = new SlideIdList();
            for (var i = 0; i < slides.Count; i++)
            {
                var relationshipId = $"rId{i + 10}";
                var slidePart = presentationPart.AddNewPart<SlidePart>(relationshipId);
                slidePart.Slide = new Slide(new CommonSlideData(SlideShapes(slides[i].Title, slides[i].Lines)), new ColorMapOverride(new A.MasterColorMapping()));
                slidePart.AddPart(layoutPart);
                slideIds.Append(new SlideId { Id = (uint)(256 + i), RelationshipId = relationshipId });
            }

            presentationPart.Presentation.Append(
                new SlideMasterIdList(new SlideMasterId { Id = 2147483648U, RelationshipId = "rId1" }),
                slideIds,
                new SlideSize { Cx = 12192000, Cy = 6858000 },
                new NotesSize { Cx = 6858000, Cy = 9144000 },
                new DefaultTextStyle());
            document.PackageProperties.Title = slides.Count > 0 ? slides[0].Title : null;
        }
        return buffer.ToArray();
    }

    private static ShapeTree EmptyShapeTree() => new(
        new NonVisualGroupShapeProperties(
            new NonVisualDrawingProperties { Id = 1U, Name = "" },
            new NonVisualGroupShapeDrawingProperties(),
            new ApplicationNonVisualDrawingProperties()),
        new GroupShapeProperties(new A.TransformGroup()));

    private static ShapeTree SlideShapes(string title, IReadOnlyList<string> lines)
    {
        var tree = EmptyShapeTree();
        tree.Append(TextShape(2U, "Title 1", PlaceholderValues.Title, [title]));
        tree.Append(TextShape(3U, "Content Placeholder 2", PlaceholderValues.Body, lines));
        return tree;
    }

    private static Shape TextShape(uint id, string name, PlaceholderValues placeholder, IReadOnlyList<string> paragraphs)
    {
        var body = new TextBody(new A.BodyProperties(), new A.ListStyle());
        foreach (var text in paragraphs)
        {
            body.Append(new A.Paragraph(new A.Run(new A.RunProperties { Language = "en-US" }, new A.Text(text))));
        }
        return new Shape(
            new NonVisualShapeProperties(
                new NonVisualDrawingProperties { Id = id, Name = name },
                new NonVisualShapeDrawingProperties(new A.ShapeLocks { NoGrouping = true }),
                new ApplicationNonVisualDrawingProperties(new PlaceholderShape { Type = placeholder })),
            new ShapeProperties(),
            body);
    }

    private static A.Theme Theme()
    {
        static A.SolidFill Fill(string hex) => new(new A.RgbColorModelHex { Val = hex });
        static A.Outline Line(int width) => new(Fill("000000"), new A.PresetDash { Val = A.PresetLineDashValues.Solid }) { Width = width };
        return new A.Theme(
            new A.ThemeElements(
                new A.ColorScheme(
                    new A.Dark1Color(new A.SystemColor { Val = A.SystemColorValues.WindowText, LastColor = "000000" }),
                    new A.Light1Color(new A.SystemColor { Val = A.SystemColorValues.Window, LastColor = "FFFFFF" }),
                    new A.Dark2Color(new A.RgbColorModelHex { Val = "1F497D" }),
                    new A.Light2Color(new A.RgbColorModelHex { Val = "EEECE1" }),
                    new A.Accent1Color(new A.RgbColorModelHex { Val = "4F81BD" }),
                    new A.Accent2Color(new A.RgbColorModelHex { Val = "C0504D" }),
                    new A.Accent3Color(new A.RgbColorModelHex { Val = "9BBB59" }),
                    new A.Accent4Color(new A.RgbColorModelHex { Val = "8064A2" }),
                    new A.Accent5Color(new A.RgbColorModelHex { Val = "4BACC6" }),
                    new A.Accent6Color(new A.RgbColorModelHex { Val = "F79646" }),
                    new A.Hyperlink(new A.RgbColorModelHex { Val = "0000FF" }),
                    new A.FollowedHyperlinkColor(new A.RgbColorModelHex { Val = "800080" }))
                { Name = "Office" },
                new A.FontScheme(
                    new A.MajorFont(new A.LatinFont { Typeface = "Calibri" }, new A.EastAsianFont { Typeface = "" }, new A.ComplexScriptFont { Typeface = "" }),
                    new A.MinorFont(new A.LatinFont { Typeface = "Calibri" }, new A.EastAsianFont { Typeface = "" }, new A.ComplexScriptFont { Typeface = "" }))
                { Name = "Office" },
                new A.FormatScheme(
                    new A.FillStyleList(Fill("FFFFFF"), Fill("EEEEEE"), Fill("DDDDDD")),
                    new A.LineStyleList(Line(9525), Line(25400), Line(38100)),
                    new A.EffectStyleList(
                        new A.EffectStyle(new A.EffectList()),
                        new A.EffectStyle(new A.EffectList()),
                        new A.EffectStyle(new A.EffectList())),
                    new A.BackgroundFillStyleList(Fill("FFFFFF"), Fill("EEEEEE"), Fill("DDDDDD")))
                { Name = "Office" }),
            new A.ObjectDefaults(),
            new A.ExtraColorSchemeList())
        { Name = "Office Theme" };
    }
}
