using System.Text;

namespace Threadloom.Server.Features.Playground;

/// <summary>
/// Turns the TeX of <c>$…$</c> into readable plain text: common commands to their symbols (<c>\cdot</c> → ·,
/// <c>\frac{a}{b}</c> → a/b, <c>\sqrt{x}</c> → √(x)), simple super- and subscripts to Unicode digits. Not a TeX
/// renderer: whatever it does not know is kept as written, so nothing is lost.
/// </summary>
/// <remarks>One pass over the input with a depth bound on groups: linear in the input, whatever it holds.</remarks>
internal static class ReadableTex
{
    private const int MaxDepth = 16;

    private static readonly Dictionary<string, string> Symbols = new(StringComparer.Ordinal)
    {
        ["cdot"] = "·", ["times"] = "×", ["div"] = "÷", ["pm"] = "±", ["mp"] = "∓", ["le"] = "≤", ["leq"] = "≤", ["ge"] = "≥", ["geq"] = "≥",
        ["neq"] = "≠", ["ne"] = "≠", ["approx"] = "≈", ["equiv"] = "≡", ["infty"] = "∞", ["to"] = "→", ["rightarrow"] = "→", ["leftarrow"] = "←",
        ["Rightarrow"] = "⇒", ["implies"] = "⇒", ["iff"] = "⇔", ["in"] = "∈", ["notin"] = "∉", ["subset"] = "⊂", ["cup"] = "∪", ["cap"] = "∩",
        ["forall"] = "∀", ["exists"] = "∃", ["partial"] = "∂", ["nabla"] = "∇", ["sum"] = "Σ", ["prod"] = "Π", ["int"] = "∫", ["circ"] = "∘",
        ["degree"] = "°", ["ldots"] = "…", ["cdots"] = "⋯", ["dots"] = "…",
        ["alpha"] = "α", ["beta"] = "β", ["gamma"] = "γ", ["delta"] = "δ", ["epsilon"] = "ε", ["varepsilon"] = "ε", ["zeta"] = "ζ", ["eta"] = "η",
        ["theta"] = "θ", ["iota"] = "ι", ["kappa"] = "κ", ["lambda"] = "λ", ["mu"] = "μ", ["nu"] = "ν", ["xi"] = "ξ", ["pi"] = "π", ["rho"] = "ρ",
        ["sigma"] = "σ", ["tau"] = "τ", ["phi"] = "φ", ["varphi"] = "φ", ["chi"] = "χ", ["psi"] = "ψ", ["omega"] = "ω",
        ["Gamma"] = "Γ", ["Delta"] = "Δ", ["Theta"] = "Θ", ["Lambda"] = "Λ", ["Pi"] = "Π", ["Sigma"] = "Σ", ["Phi"] = "Φ", ["Omega"] = "Ω",
        ["quad"] = "  ", ["qquad"] = "    ", ["left"] = "", ["right"] = "", ["displaystyle"] = "", ["bigl"] = "", ["bigr"] = "",
        ["sin"] = "sin", ["cos"] = "cos", ["tan"] = "tan", ["log"] = "log", ["ln"] = "ln", ["exp"] = "exp", ["lim"] = "lim", ["max"] = "max", ["min"] = "min",
    };

    private static readonly string[] Groupless = ["text", "mathrm", "mathbf", "mathit", "operatorname", "boxed", "textbf", "mathsf"];

    private const string SuperFrom = "0123456789+-=()n";
    private const string SuperTo = "⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻⁼⁽⁾ⁿ";
    private const string SubFrom = "0123456789+-=()";
    private const string SubTo = "₀₁₂₃₄₅₆₇₈₉₊₋₌₍₎";

    public static string ToText(string tex)
    {
        var position = 0;
        return Convert(tex, ref position, 0, stopAtBrace: false).Trim();
    }

    private static string Convert(string tex, ref int i, int depth, bool stopAtBrace)
    {
        var output = new StringBuilder();
        while (i < tex.Length)
        {
            var c = tex[i];
            if (c == '}' && stopAtBrace)
            {
                i++;
                return output.ToString();
            }
            if (c == '{')
            {
                i++;
                output.Append(Group(tex, ref i, depth));
                continue;
            }
            if (c is '^' or '_')
            {
                i++;
                var argument = Argument(tex, ref i, depth);
                output.Append(Script(argument, c == '^'));
                continue;
            }
            if (c == '\\' && i + 1 < tex.Length)
            {
                i++;
                var start = i;
                while (i < tex.Length && char.IsAsciiLetter(tex[i]))
                {
                    i++;
                }
                if (i == start)
                {
                    // \, \; \! \{ \} \\ and friends: spacing, or the escaped character itself.
                    var escaped = tex[i++];
                    output.Append(escaped switch { ',' or ';' or ':' or ' ' => " ", '!' => "", '\\' => " ", _ => escaped.ToString() });
                    continue;
                }
                var name = tex[start..i];
                if (name == "frac" || name == "dfrac" || name == "tfrac")
                {
                    var top = Argument(tex, ref i, depth);
                    var bottom = Argument(tex, ref i, depth);
                    output.Append(Wrap(top)).Append('/').Append(Wrap(bottom));
                }
                else if (name == "sqrt")
                {
                    output.Append('√').Append('(').Append(Argument(tex, ref i, depth)).Append(')');
                }
                else if (Groupless.Contains(name))
                {
                    output.Append(Argument(tex, ref i, depth));
                }
                else if (Symbols.TryGetValue(name, out var symbol))
                {
                    output.Append(symbol);
                }
                else
                {
                    output.Append('\\').Append(name);
                }
                continue;
            }
            output.Append(c);
            i++;
        }
        return output.ToString();
    }

    private static string Group(string tex, ref int i, int depth)
    {
        if (depth >= MaxDepth)
        {
            // Too deep to be real math: keep the rest as written, in one linear copy.
            var rest = tex[i..];
            i = tex.Length;
            return rest;
        }
        return Convert(tex, ref i, depth + 1, stopAtBrace: true);
    }

    /// <summary>A command's argument: a braced group, or the next single character.</summary>
    private static string Argument(string tex, ref int i, int depth)
    {
        while (i < tex.Length && tex[i] == ' ')
        {
            i++;
        }
        if (i >= tex.Length)
        {
            return "";
        }
        if (tex[i] == '{')
        {
            i++;
            return Group(tex, ref i, depth);
        }
        if (tex[i] == '\\')
        {
            // A command as the argument (x^\pi): convert just that command.
            var start = i;
            i++;
            while (i < tex.Length && char.IsAsciiLetter(tex[i]))
            {
                i++;
            }
            var end = Math.Max(i, start + 2);
            i = Math.Min(end, tex.Length);
            var inner = 0;
            return Convert(tex[start..i], ref inner, depth + 1, stopAtBrace: false);
        }
        return tex[i++].ToString();
    }

    private static string Wrap(string part) => part.Length <= 1 || part.All(char.IsLetterOrDigit) ? part : "(" + part + ")";

    private static string Script(string text, bool super)
    {
        var (from, to) = super ? (SuperFrom, SuperTo) : (SubFrom, SubTo);
        if (text.Length > 0 && text.All(ch => from.Contains(ch, StringComparison.Ordinal)))
        {
            return string.Concat(text.Select(ch => to[from.IndexOf(ch, StringComparison.Ordinal)]));
        }
        return (super ? "^" : "_") + Wrap(text);
    }
}
