"""An IOC's --help names what each macro option's value is."""
from cawire.server import template_arg_parser


def test_macro_options_say_what_their_value_is():
    parser, _ = template_arg_parser(desc='demo', default_prefix='x:',
                                    macros={'motor': 'm1', 'beamline': None})
    text = parser.format_help()
    assert "--motor MOTOR         value of {motor} in PV names (default 'm1')" in text
    assert '--beamline BEAMLINE   value of {beamline} in PV names (required)' in text
    assert 'Macro' not in text
