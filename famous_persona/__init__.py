"""Core library of FamousPersona: records, files, people, chat formatting, models and configs."""
