using System.Globalization;
using System.Text;

namespace Threadloom.Core.Tools.CodeInterpreter;

/// <summary>
/// Decodes the <c>code</c> string of <c>code_interpreter</c> arguments (<c>{"code":"…"}</c>) while the model streams
/// them, so clients can see the input as it is written. Only arguments that begin with the <c>code</c> key are
/// decoded incrementally; anything else is <see cref="Recognized"/> false and the input is sent whole once the call
/// is complete. An escape sequence (or a surrogate pair) split across fragments is held back until it is complete.
/// </summary>
public sealed class CodeArgumentsStream
{
    private readonly StringBuilder _raw = new();
    private readonly StringBuilder _decoded = new();
    private int _position;
    private Phase _phase;

    private enum Phase
    {
        Header,
        Body,
        Done,
        Unrecognized,
    }

    /// <summary>False once the arguments turned out not to start with <c>{"code":"</c>.</summary>
    public bool Recognized => _phase != Phase.Unrecognized;

    /// <summary>The code decoded so far (everything returned by <see cref="Append"/>).</summary>
    public string Decoded => _decoded.ToString();

    /// <summary>Adds an arguments fragment and returns the code characters it completed (possibly empty).</summary>
    public string Append(string fragment)
    {
        _raw.Append(fragment);
        if (_phase == Phase.Header)
        {
            var header = MatchHeader(_raw);
            if (header == 0)
            {
                return "";
            }
            if (header < 0)
            {
                _phase = Phase.Unrecognized;
                return "";
            }
            _position = header;
            _phase = Phase.Body;
        }
        return _phase == Phase.Body ? DecodeAvailable() : "";
    }

    private string DecodeAvailable()
    {
        var start = _decoded.Length;
        while (_position < _raw.Length)
        {
            var c = _raw[_position];
            if (c == '"')
            {
                _phase = Phase.Done;
                break;
            }
            if (c != '\\')
            {
                if (char.IsHighSurrogate(c) && _position + 1 >= _raw.Length)
                {
                    break;
                }
                _decoded.Append(c);
                _position++;
                continue;
            }
            if (_position + 1 >= _raw.Length)
            {
                break;
            }
            var e = _raw[_position + 1];
            if (e == 'u')
            {
                if (!TryHex(_position + 2, out var unit))
                {
                    break;
                }
                if (char.IsHighSurrogate(unit))
                {
                    // Wait for the low half so a delta never carries half a pair.
                    if (_position + 12 > _raw.Length)
                    {
                        break;
                    }
                    if (_raw[_position + 6] == '\\' && _raw[_position + 7] == 'u' && TryHex(_position + 8, out var low) && char.IsLowSurrogate(low))
                    {
                        _decoded.Append(unit).Append(low);
                        _position += 12;
                        continue;
                    }
                }
                _decoded.Append(unit);
                _position += 6;
                continue;
            }
            _decoded.Append(e switch
            {
                'n' => '\n',
                't' => '\t',
                'r' => '\r',
                'b' => '\b',
                'f' => '\f',
                _ => e,
            });
            _position += 2;
        }
        return _decoded.ToString(start, _decoded.Length - start);
    }

    private bool TryHex(int at, out char value)
    {
        value = '\0';
        if (at + 4 > _raw.Length)
        {
            return false;
        }
        Span<char> digits = stackalloc char[4];
        for (var i = 0; i < 4; i++)
        {
            digits[i] = _raw[at + i];
        }
        if (!ushort.TryParse(digits, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var number))
        {
            return false;
        }
        value = (char)number;
        return true;
    }

    /// <summary>Matches <c>\s*{\s*"code"\s*:\s*"</c>: its length when complete, 0 when it may still match, -1 when it cannot.</summary>
    private static int MatchHeader(StringBuilder raw)
    {
        const string Key = "\"code\"";
        var i = 0;
        var state = 0;
        var keyAt = 0;
        while (i < raw.Length)
        {
            var c = raw[i];
            switch (state)
            {
                case 0 or 1 or 3 or 4 when char.IsWhiteSpace(c):
                    i++;
                    continue;
                case 0:
                    if (c != '{')
                    {
                        return -1;
                    }
                    state = 1;
                    break;
                case 1 or 2:
                    if (c != Key[keyAt])
                    {
                        return -1;
                    }
                    keyAt++;
                    state = keyAt == Key.Length ? 3 : 2;
                    break;
                case 3:
                    if (c != ':')
                    {
                        return -1;
                    }
                    state = 4;
                    break;
                case 4:
                    return c == '"' ? i + 1 : -1;
            }
            i++;
        }
        return 0;
    }
}
