// jsfive ships no types; backbones.ts describes the few members it uses.
declare module 'jsfive';
