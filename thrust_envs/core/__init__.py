"""The engine behind every Thrust environment: definitions, batch kernels, and the generic
views (Gymnasium, Gymnasium vector, SB3, PettingZoo, vs-opponent). See ARCHITECTURE.md."""
