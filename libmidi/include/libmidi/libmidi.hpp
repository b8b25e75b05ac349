// libmidi: a dependency-free Standard MIDI File reader and writer. One include for all of it.
#pragma once

#include "libmidi/diagnostics.hpp"
#include "libmidi/io.hpp"
#include "libmidi/midi_file.hpp"
#include "libmidi/notes.hpp"
#include "libmidi/tempo_map.hpp"
